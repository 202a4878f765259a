# Two commands: `make run` serves the demo, `make test` runs every test.
# Both set up everything first: the virtual environment, the Python packages, the
# socket.io browser client from npm, the compiled translations.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 5000
EXAMPLE := examples/courtyard-plugin-volunteer-points
VENDOR := web/static/vendor/socket.io.min.js
SOURCES_I18N := $(shell find core web plugins -name '*.py' -o -name '*.html' 2>/dev/null)

.PHONY: setup run test test-fast demo-json translations extract-messages browser audit clean

setup: $(VENV)/.installed $(VENDOR) translations

$(VENV)/.installed: pyproject.toml $(wildcard $(EXAMPLE)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	if [ -d $(EXAMPLE) ]; then $(PIP) install --quiet -e $(EXAMPLE); fi
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENDOR): node_modules/.installed
	mkdir -p $(dir $@)
	cp node_modules/socket.io-client/dist/socket.io.min.js $@

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d web/translations -D messages --statistics

# Refresh the catalogues after changing user-visible strings, then translate the new ones.
extract-messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k lazy_gettext -k _l --no-location --sort-output \
	  --ignore-dirs=".* _* node_modules examples tests bench docs instance" -o web/translations/messages.pot .
	$(VENV)/bin/pybabel update -i web/translations/messages.pot -d web/translations -D messages --no-fuzzy-matching

# The end-to-end tests drive Debian's chromium (never a downloaded browser), and put the
# shipped nginx configuration (deploy/nginx) in front of real server processes.
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx-light"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (apt-get install$$missing); the tests that need them will be skipped"; fi; \
	fi

run: setup
	mkdir -p instance
	$(VENV)/bin/courtyard db upgrade
	$(VENV)/bin/courtyard demo --base-url http://$(HOST):$(PORT)
	@echo
	@echo "Courtyard demo: http://$(HOST):$(PORT)/"
	$(VENV)/bin/courtyard serve --host $(HOST) --port $(PORT)

test: setup browser
	$(PY) -m pytest
	if [ -d $(EXAMPLE)/tests ]; then $(PY) -m pytest $(EXAMPLE)/tests; fi

# Known vulnerabilities in the installed dependencies (pip-audit, in a tool environment of its
# own, reading the project's environment). It needs the advisory service on the network, so
# it is not part of `make test`: docs/operations.md, "Dependency audit", says why and when
# to run it. --strict: a package that could not be checked fails the audit instead of
# being skipped quietly. Reviewed exceptions: audit-ignore.txt (an id and the reason).
AUDIT_VENV := .venv-audit
AUDIT_SERVICE ?= osv

audit: $(VENV)/.installed
	test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install --quiet pip-audit; }
	$(AUDIT_VENV)/bin/pip-audit --strict --skip-editable --desc on --vulnerability-service $(AUDIT_SERVICE) \
	  --path $(firstword $(wildcard $(VENV)/lib/python3*/site-packages)) \
	  $$(sed -e 's/#.*//' audit-ignore.txt | awk 'NF { print "--ignore-vuln " $$1 }')

clean:
	rm -rf $(VENV) $(AUDIT_VENV) node_modules web/static/vendor
