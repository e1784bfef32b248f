# Subsecond: `make run` installs what is missing and starts the app; `make test` runs every test.
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
VENDOR := static/vendor/htmx/htmx.min.js static/vendor/htmx-ext-ws/ws.js

.PHONY: run test lint vendor bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	# torch first, pinned: 2.13.0 is a CPU build that lies on this kind of machine's disk.
	.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
	.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f .venv/.installed-*
	touch $@

$(VENDOR):
	bash scripts/vendor_frontend.sh

run: $(STAMP) $(VENDOR)
	$(PY) manage.py serve

test: $(STAMP) $(VENDOR)
	.venv/bin/lint-imports --no-cache
	.venv/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache

vendor:
	bash scripts/vendor_frontend.sh
