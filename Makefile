# Thin wrappers; the scripts work without make.
.PHONY: demo test bench

demo:
	scripts/demo

test:
	scripts/test

bench:
	.venv/bin/python bench/gen_logs.py --out bench/out
	.venv/bin/python bench/bench_parse.py --logs bench/out
