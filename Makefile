# tinykube: Kubernetes rebuilt for teaching.
#
#   make up      install what is missing (apt, as root), build, start the default cluster
#   make test    unit tests, conformance suites and scenarios (what CI runs)
#   make down    remove everything the cluster made
#
# Other targets: build, deps, conformance, scenarios, bench, proto, clean.

GO      ?= go
BIN     := $(CURDIR)/bin
# Flags for `tinykube up`, e.g. make up UP_FLAGS="--chapter 1 --nodes 3".
UP_FLAGS ?=

# OS packages the clusters need (Debian/Ubuntu names).
#   iproute2, util-linux: network namespaces, nsenter
DEB_PACKAGES := iproute2 util-linux containerd runc busybox-static iptables conntrack dnsperf

# kubectl is built from the k8s.io/kubectl module; tell it its version, as
# upstream's release build does, or `kubectl version` says v0.0.0-master.
KUBE_VERSION := v1.37.2
KUBE_LDFLAGS := $(foreach p,k8s.io/client-go/pkg/version k8s.io/component-base/version,\
  -X $(p).gitVersion=$(KUBE_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=37 -X $(p).gitTreeState=clean)

.PHONY: up down test build deps unit conformance scenarios bench proto clean

up: deps build
	$(BIN)/tinykube up $(UP_FLAGS)

down:
	$(BIN)/tinykube down

# deps installs the missing OS packages, if any, with apt.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing OS packages:$$missing; run as root (sudo make ...) to install them"; exit 1; fi; \
	  echo ">> installing OS packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo ">> OS packages present: $(DEB_PACKAGES)"; fi

# build puts tinykube, the reference components, the real kubectl and
# etcdctl, and the scenarios' test components in bin/.
build:
	@echo ">> building bin/ (a cold build takes a few minutes; later ones seconds)"
	$(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $(BIN)/ ./cmd/...
	$(GO) build -o $(BIN)/etcdctl go.etcd.io/etcd/etcdctl/v3
	$(GO) build -o $(BIN)/testcomponents/memetcd ./testdata/components/memetcd
	$(GO) build -o $(BIN)/testcomponents/faulty ./testdata/components/faulty
	@cd $(BIN)/testcomponents && for m in crash-at-start never-healthy wrong-version wrong-kind; do ln -sf faulty $$m; done

# images builds the images pods run (pause, busybox, the demo server) from
# the project's own sources as OCI tarballs in bin/images, which each node's
# containerd imports: there is no registry. Seconds when nothing changed.
.PHONY: images
images:
	$(GO) run ./internal/images/mkimages -out $(BIN)/images -go $(GO)
build: images

# test is what CI runs: vet, unit tests, conformance of every reference
# component binary, and the scenarios (root; CI=true makes a skip a failure).
# (./... skips testdata/, hence the components there are named too.)
PKGS := ./... ./testdata/components/...

test: deps build
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 40m $(PKGS)

unit:
	$(GO) test -count=1 -short $(PKGS)

conformance: build
	$(GO) test -count=1 ./plugins/conformance -v -run TestReference

scenarios: deps build
	$(GO) test -count=1 -timeout 40m ./chapters/...

# bench prints the figures of the issues: cluster up/down, component restart.
bench: deps build
	$(GO) test -run '^$$' -bench . -benchtime 5x -count 1 ./internal/cluster/ ./internal/machine/
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 3 ./components/apiserver/ ./chapters/03-kubelet/ ./components/kubeproxy/ ./chapters/06-kube-proxy/ ./chapters/07-dns/

# proto regenerates the contract's Go code from plugins/proto/component.proto.
proto:
	@command -v protoc >/dev/null || (apt-get update -q && apt-get install -y -q protobuf-compiler)
	GOBIN=$(BIN)/tools $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(BIN)/tools $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH=$(BIN)/tools:$$PATH protoc -I plugins/proto \
	  --go_out=plugins/proto --go_opt=paths=source_relative \
	  --go-grpc_out=plugins/proto --go-grpc_opt=paths=source_relative \
	  plugins/proto/component.proto

clean:
	rm -rf $(BIN)
