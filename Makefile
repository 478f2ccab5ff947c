# Two commands do all the set-up on a fresh machine: `make report` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: report test system-deps docs clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

## report: the built-in CMO market -> out/cmo/ (report.html, report.pdf, report.json, report.md, report.xlsx, cube.parquet)
report: $(STAMP)
	$(VENV)/bin/marketcube report

## system-deps: Debian's chromium (browser tests) and poppler-utils (PDF checks), when missing
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then \
		echo "installing chromium and poppler-utils with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium poppler-utils >/dev/null; \
	fi

## test: the whole suite (slow benchmarks are marked out of it)
test: $(STAMP) system-deps
	$(PY) -m pytest -q -m "not slow"

## docs: regenerate docs/cli.md and README's CLI reference from the commands' --help
docs: $(STAMP)
	$(PY) -m marketcube.docs

clean:
	rm -rf out .pytest_cache
