"""`python -m mmzppo.teachers annotate ...`: teacher answers written into shards (see `annotate`)."""

from mmzppo.teachers.annotate import main

if __name__ == "__main__":
    main()
