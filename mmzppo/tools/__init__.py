"""Tools around the library: the demo, the multi-seed comparison (its grid, stages and report),
the start's warm-up and diagnostic, plots, the prompt inspector, tiny-model and SmolLM2
fixtures, local vLLM servers for tests, the multi-process loss check. The commands are
`python -m mmzppo.tools.<name>`. Nothing in the library imports this package.
"""
