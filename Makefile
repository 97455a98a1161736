# Herald - developer entry points. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV       ?= .tools/venv
SAM        := SAM_CLI_TELEMETRY=0 PATH="$(abspath $(VENV))/bin:$$PATH" $(abspath $(VENV))/bin/sam
CONFIG_ENV ?= default
# Extra flags for `sam deploy`, e.g. make deploy SAM_ARGS='--parameter-overrides Stage=prod'
SAM_ARGS   ?=
# Extra flags for `herald serve`, e.g. make run ARGS='--bind 127.0.0.1:9090'
ARGS       ?=
# Cargo features of the `herald` binary for `make run`, e.g. make run FEATURES=aws (DynamoDB, S3,
# SQS, SES, Bedrock, Athena); the local server needs none.
FEATURES   ?=
LAMBDA_PKGS := -p herald-api -p herald-tick -p herald-render -p herald-deliver

.PHONY: help run test fuzz console-test bench lint fmt clippy tools validate emulators build-lambda package deploy clean-tools

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

run: ## build the CLI (the `quick` release profile, no AWS SDKs) and start the local all-in-one server with demo data
	@[ -x target/quick/herald ] || echo "Building herald (the first build takes about 5 minutes on 2 cores; later ones are quick)…"
	cargo build --profile quick -p herald-cli $(if $(FEATURES),--features $(FEATURES))
	./target/quick/herald serve --demo $(ARGS)

test: ## everything CI runs: pinned tools, moto + SMTP sink + PostgreSQL + MariaDB, cfn-lint, sam validate, fmt, clippy, tests, API fuzzing, browser tests
	bash infra/test.sh

fuzz: ## schemathesis over the whole API of a fresh herald serve --demo (HERALD_FUZZ_SECONDS, default 240)
	bash infra/fuzz.sh

console-test: ## the console's browser tests only (Chromium + Playwright; screenshots in target/console-screenshots)
	bash infra/browser.sh

bench: ## benchmarks (inside the emulators, so the DynamoDB figures are measured too); they print figures
	bash infra/test.sh -- cargo bench --workspace

lint: ## rustfmt check + clippy (warnings are errors)
	cargo fmt --all -- --check
	$(MAKE) --no-print-directory clippy

clippy: ## clippy only: the whole workspace with every feature, then the `herald` binary without AWS
	cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
	cargo clippy -p herald-cli --all-targets --locked -- -D warnings

fmt: ## format the workspace
	cargo fmt --all

tools: ## create/refresh .tools/venv (moto, aiosmtpd, sam, cfn-lint; pinned)
	bash infra/tools.sh

validate: tools ## lint the SAM template (cfn-lint + sam validate --lint), offline
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

emulators: ## start moto, the SMTP sink, PostgreSQL and MariaDB on free loopback ports and print the exports (Ctrl-C stops)
	bash infra/test.sh --emulators-only

build-lambda: ## cargo lambda build --release --arm64 of the four functions, then a table of their sizes
	HERALD_TOOLS_VENV="$(abspath $(VENV))" bash infra/tools.sh --lambda
	PATH="$(abspath $(VENV))/bin:$$PATH" cargo lambda build --release --arm64 $(LAMBDA_PKGS)
	bash infra/lambda-sizes.sh

package: ## sam build (cargo-lambda, arm64) into .aws-sam/, then a table of the functions' sizes
	HERALD_TOOLS_VENV="$(abspath $(VENV))" bash infra/tools.sh --lambda
	$(SAM) build --config-env $(CONFIG_ENV)
	bash infra/lambda-sizes.sh .aws-sam/build

deploy: package ## sam deploy (--guided the first time: no deploy section in samconfig.toml yet)
	@if grep -qs '^\[$(CONFIG_ENV)\.deploy\.parameters\]' samconfig.toml; then \
		$(SAM) deploy --config-env $(CONFIG_ENV) $(SAM_ARGS); \
	else \
		echo "no [$(CONFIG_ENV).deploy.parameters] in samconfig.toml: running sam deploy --guided"; \
		$(SAM) deploy --guided --config-env $(CONFIG_ENV) $(SAM_ARGS); \
	fi

clean-tools: ## remove the tool venv (.tools/)
	rm -rf .tools
