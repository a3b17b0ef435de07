"""`python -m mmzppo.data.synthetic --out DIR`: write items as JSONL plus their media."""

from mmzppo.data.synthetic.suite import main

if __name__ == "__main__":
    main()
