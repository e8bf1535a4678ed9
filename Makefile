# The README's two commands:  `make demo`  (set-up + corpus + the demo study)  and  `make test`.
# Everything else here is what those two need on a fresh Debian machine.

VENV     ?= .venv
PY       := $(VENV)/bin/python
LS       := $(VENV)/bin/leanspeech
CORPUS   ?= data/corpus
MINUTES  ?= 10
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Offline sources of real speech, TTS voices and noise (see README, "Where the data comes from"),
# headless Chromium, which the report test renders the HTML page in, and a C compiler with Python's
# headers for the streaming runtime's 8-bit kernel (optional for users; CI tests the compiled path).
APT_PACKAGES := sox libsndfile1 gcc python3-dev \
	asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav \
	asterisk-core-sounds-it-wav asterisk-prompt-fr-armelle asterisk-prompt-es-co \
	espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	asterisk-moh-opsound-wav sound-icons \
	chromium
# The CPU wheel of torch; a looser pin resolves to a multi-GB CUDA build.
TORCH    := torch==2.13.0
WHEELS   := $(wildcard /opt/wheels)
PIP_FLAGS := $(if $(WHEELS),--find-links $(WHEELS),)

.PHONY: demo test setup system venv corpus clean

demo: setup
	$(LS) data build --out $(CORPUS) --minutes $(MINUTES)
	$(LS) demo --corpus $(CORPUS)

# Two test processes with one math thread each: more threads than cores slows every test down.
test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

setup: system venv

system: .make/system
.make/system: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p .make && touch $@

venv: .make/venv
.make/venv: pyproject.toml requirements-peers-no-deps.txt Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(PIP_FLAGS) $(TORCH)
	$(PY) -m pip install -q $(PIP_FLAGS) -e '.[dev,sqa]'
	$(PY) -m pip install -q $(PIP_FLAGS) --no-deps -r requirements-peers-no-deps.txt
	@mkdir -p .make && touch $@

clean:
	rm -rf .make $(VENV) build *.egg-info
