# Everything a developer or CI runs goes through these targets.
# Caches (PostgreSQL data, the Python virtualenv, envtest binaries) live
# outside the repository under $(CACHE), so a clean checkout stays clean.

CACHE   ?= $(HOME)/.cache/prefectgo
BIN     := bin
GO      ?= go
PREFECT_VERSION := 3.9.1
VENV    := $(CACHE)/venv-$(PREFECT_VERSION)

# Our binaries and their tests build with encoding/json running on Go's json/v2
# (GOEXPERIMENT=jsonv2): the same API and output for less CPU per request. Built
# without it they behave the same, only slower. hack/e2e.sh and the Dockerfile build
# with it too; tools and Kubernetes build as their authors do.
SERVER_GOEXPERIMENT := jsonv2
SERVER_GO := GOEXPERIMENT=$(SERVER_GOEXPERIMENT) $(GO)

export CACHE PREFECT_VERSION VENV SERVER_GOEXPERIMENT

CONTROLLER_GEN := $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
KUSTOMIZE      := $(GO) run sigs.k8s.io/kustomize/kustomize/v5@v5.8.0
# helm, built from the Go module proxy with the Kubernetes version its release builds
# carry (its modules are k8s 1.37), so `helm template` assumes a current cluster.
HELM_VERSION   := v3.22.0
HELM           := $(CACHE)/helm-$(HELM_VERSION)-k8s1.37/helm
HELM_LDFLAGS   := $(foreach p,chartutil lint/rules,-X helm.sh/helm/v3/pkg/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$(p).k8sVersionMinor=37)
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT  := $(CACHE)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

.PHONY: all help build build-installer run-server test fuzz soak helm-chart helm-lint helm-test test-go test-compat test-browser test-e2e test-imagebuild worker-image cluster-up cluster-down bench bench-compare docs manifests generate verify-generated fmt vet lint verify clean

## all: the default goal: build
all: build

## help: every target with what it does
help:
	@awk '/^## [a-z0-9, -]+: / { sub(/^## /, ""); n = index($$0, ": "); printf "  %-26s %s\n", substr($$0, 1, n - 1), substr($$0, n + 2); next } \
		/^## / { sub(/^## /, ""); printf "  %-26s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## build: compile the binaries into bin/
build:
	$(SERVER_GO) build -o $(BIN)/prefect-server ./cmd/prefect-server
	$(SERVER_GO) build -o $(BIN)/manager ./cmd/manager

## build-installer: the whole operator as one manifest, dist/install.yaml
build-installer:
	mkdir -p dist
	$(KUSTOMIZE) build config/default > dist/install.yaml

## run-server: the server on its embedded default (SQLite at ~/.prefect/prefect.db, port 4200), with
## Prefect's UI at http://127.0.0.1:4200/ (hack/ui-assets.sh; the API alone if that fails) and its block
## catalogue and collection views (hack/catalogue-assets.sh)
run-server:
	PREFECT_SERVER_UI_STATIC_DIRECTORY="$${PREFECT_SERVER_UI_STATIC_DIRECTORY:-$${PREFECT_UI_STATIC_DIRECTORY:-$$(hack/ui-assets.sh)}}" \
		PREFECT_SERVER_CATALOGUE_DIRECTORY="$${PREFECT_SERVER_CATALOGUE_DIRECTORY:-$$(hack/catalogue-assets.sh)}" \
		$(SERVER_GO) run ./cmd/prefect-server serve

## test: every test: vet, lint and format checks, Go tests on SQLite and PostgreSQL, the real-client suite,
## Prefect's web UIs in a real browser
test: verify build test-go test-imagebuild helm-lint helm-test test-compat test-browser

## test-go: Go unit, store (both backends), API and envtest controller tests; the API's request
## keys are checked against Prefect's own models, read from the pinned prefect in the venv, and
## the UI and the block catalogue are the pinned prefect's own (hack/ui-assets.sh, hack/catalogue-assets.sh)
test-go:
	hack/python-env.sh
	hack/ui-assets.sh >/dev/null
	hack/catalogue-assets.sh >/dev/null
	PREFECTGO_TEST_POSTGRES_URL="$$(hack/postgres.sh url)" KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" \
		PREFECTGO_TEST_PYTHON="$(VENV)/bin/python" PREFECTGO_TEST_UI="$$(hack/ui-assets.sh)" \
		PREFECTGO_TEST_CATALOGUE="$$(hack/catalogue-assets.sh)" $(SERVER_GO) test -count=1 ./...

## test-compat: the real prefect client (from PyPI) against bin/prefect-server, on SQLite and PostgreSQL, with
## the pinned prefect's block catalogue (hack/catalogue-assets.sh)
test-compat: build
	hack/python-env.sh
	PREFECTGO_TEST_POSTGRES_URL="$$(hack/postgres.sh url)" PREFECTGO_SERVER_BIN="$(CURDIR)/$(BIN)/prefect-server" \
		PREFECTGO_TEST_CATALOGUE="$$(hack/catalogue-assets.sh)" $(VENV)/bin/python -m pytest -q test/compat

## test-browser: Prefect's own web UIs (v1 at /, v2 at /v2) in headless Chromium (hack/chromium.sh) against
## bin/prefect-server seeded by the real client: every page settles with its texts, no /api answer >= 400, no
## console error (test/browser; PREFECTGO_BROWSER_TARGET=python for Prefect's server, PREFECTGO_BROWSER_RECORD=1
## to rewrite test/browser/testdata/ui-api-calls.txt); then the login and a write with basic auth and CSRF on.
## docs/ui-dashboard.png is its v2-dashboard.png
test-browser: build
	hack/python-env.sh
	PREFECTGO_BROWSER_CHROMIUM="$$(hack/chromium.sh)" PREFECTGO_SERVER_BIN="$(CURDIR)/$(BIN)/prefect-server" \
		PREFECT_UI_STATIC_DIRECTORY="$$(hack/ui-assets.sh)" PREFECT_SERVER_CATALOGUE_DIRECTORY="$$(hack/catalogue-assets.sh)" \
		PREFECTGO_BROWSER_PYTHON="$(VENV)/bin/python" $(GO) test -tags browser -count=1 -v -timeout 30m ./test/browser

## fuzz: every Go fuzz target for FUZZTIME each (default 1m; hack/fuzz.sh), on SQLite and PostgreSQL;
## make test runs their seed corpora (testdata/fuzz) as ordinary tests
FUZZTIME ?= 1m
fuzz:
	PREFECTGO_TEST_POSTGRES_URL="$$(hack/postgres.sh url)" hack/fuzz.sh $(FUZZTIME)

## soak: a bounded mixed load on the built server for SOAK_DURATION (default 3m): lifecycles, events,
## logs, reads, WebSockets opened and dropped; fails if goroutines or RSS grow past a bound (test/soak)
SOAK_DURATION ?= 3m
soak: build
	PREFECTGO_SERVER_BIN="$(CURDIR)/$(BIN)/prefect-server" SOAK_DURATION=$(SOAK_DURATION) \
		$(GO) test -tags soak -count=1 -v -timeout 60m ./test/soak

## bench: Go benchmarks on SQLite and PostgreSQL
bench:
	PREFECTGO_TEST_POSTGRES_URL="$$(hack/postgres.sh url)" $(SERVER_GO) test -run '^$$' -bench . -benchmem ./...

## bench-compare: our server against the Python one, side by side (SQLite, PostgreSQL); writes docs/benchmarks.md (~15 min; BENCH_ARGS=-quick for a smoke run)
bench-compare: build
	hack/python-env.sh
	BENCH_COMMAND="make bench-compare$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" PREFECTGO_TEST_POSTGRES_URL="$$(hack/postgres.sh url)" \
		$(GO) run ./bench/cmd/benchcompare -venv $(VENV) -profile 15s $(BENCH_ARGS)

## test-e2e: the operator on a real single-node cluster (root; hack/e2e.sh): cluster up, image
## built without Docker and imported, the scenarios in test/e2e with the real client, cluster down
test-e2e:
	hack/e2e.sh

## test-imagebuild: the Docker-free image builder (its own module) and its check against the Dockerfile
test-imagebuild:
	cd hack/imagebuild && $(GO) vet ./... && $(GO) test -count=1 ./...

## worker-image: the Python image of the e2e's Prefect workers and flow-run Jobs, bin/image/worker.tar
## (hack/worker-image.sh: Debian's python3.11 and the pinned prefect and prefect-kubernetes, root the
## first time, then cached); WORKER_FLOWS=DIR puts DIR in /opt/prefect/flows
worker-image:
	hack/worker-image.sh "$(WORKER_FLOWS)" $(BIN)/image/worker.tar

## cluster-up, cluster-down: the e2e cluster alone (hack/cluster.sh; `hack/cluster.sh env` for kubectl)
cluster-up:
	hack/cluster.sh up

cluster-down:
	hack/cluster.sh down

## manifests: the CRD and RBAC from the kubebuilder markers (never edited by hand)
manifests:
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths=./... output:crd:artifacts:config=config/crd/bases

## generate: the deepcopy functions of the API types
generate:
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

## verify-generated: regenerate everything generated and fail if that changed a committed file
verify-generated: manifests generate docs helm-chart
	@git diff --exit-code --stat -- api config docs charts || { echo "generated files are stale: run 'make manifests generate docs helm-chart' and commit"; exit 1; }

## helm-chart: the chart's CRD template and RBAC rules (charts/prefectgo) from config/, by
## hack/helmchart; run after `make manifests`. Those files are never edited by hand
helm-chart: manifests
	$(GO) run ./hack/helmchart

## helm-lint: helm lint --strict on the chart, with its default values and each test value set
helm-lint: $(HELM)
	$(HELM) lint --strict charts/prefectgo
	@for f in test/helm/testdata/values-*.yaml; do echo "$(HELM) lint --strict -f $$f"; $(HELM) lint --quiet --strict charts/prefectgo -f $$f || exit 1; done

## helm-test: golden `helm template` output (UPDATE=1 rewrites it), server-side dry run of it, install
## then upgrade to a chart whose CRD gained a field, bad values refused, and the manager run with the
## chart's RBAC as its ServiceAccount, on envtest (test/helm)
helm-test: $(HELM)
	$(GO) vet -tags helm ./test/helm
	PREFECTGO_HELM=$(HELM) KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" $(GO) test -tags helm -count=1 ./test/helm $(if $(UPDATE),-args -update)

$(HELM):
	GOBIN=$(dir $(HELM)) $(GO) install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

## docs: regenerate docs/settings.md from the settings table (a test fails when it is stale)
docs:
	$(GO) run ./hack/gendocs

## fmt: gofmt every Go file in place
fmt:
	gofmt -w $$(git ls-files '*.go')

## vet: go vet, including the packages behind the e2e, soak and browser build tags
vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e
	$(GO) vet -tags soak ./test/soak
	$(GO) vet -tags browser ./test/browser

## lint: golangci-lint with .golangci.yml (its standard linters), over every package and build tag
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN=$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

## verify: formatting, vet, lint and generated files, as CI checks them
verify: vet lint verify-generated
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## clean: remove bin/
clean:
	rm -rf $(BIN)
