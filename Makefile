# The two commands of the README:
#   make sample   set up (venv, pinned jars) and run the pipeline on the shipped sample
#   make test     set up and run the tests
# Downloads are cached outside the clone: pip in ~/.cache/pip, jars in ~/.cache/lakehouse/jars
# and ~/.m2, Debian's documentation packages (the quality model's training text) in
# ~/.cache/lakehouse/debian-docs. PYTHON must be a Python 3.11.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup sample test lint bench-crawl bench-ingest bench-tokenize bench-pii bench-clean-eval bench-quality-eval bench-audio bench-image bench-video bench-export bench-incremental bench-executors bench-memory clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml infra/pom.xml quality_models/models.py quality_models/quality.py quality_models/training_data.py quality_models/debian_docs.py \
          tokenize_jobs/audio_codec.py quality_models/speech.py tokenize_jobs/image_vq.py tokenize_jobs/image_vq_train.py \
          quality_models/images.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 2; }
	@command -v java >/dev/null || { echo "error: java not found: install a JDK 17 (apt-get install openjdk-17-jdk-headless)"; exit 2; }
	@command -v espeak-ng >/dev/null || { echo "installing espeak-ng (Debian package: speech for the audio codec, tests and sample)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends espeak-ng >/dev/null; }
	@test -x $(PY) || [ "$$(df -Pk . | awk 'NR==2 {print $$4}')" -gt 11000000 ] || echo "warning: $$(df -Ph . | awk 'NR==2 {print $$4}') \
	  free on this disk; a fresh .venv takes ~9 GiB (torch and its CUDA libraries ~6 GiB): pip may run out of space"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,test]"
	$(PY) -m infra.jars fetch --s3
	$(PY) -m quality_models.models fetch
	$(PY) -m quality_models.debian_docs >/dev/null
	$(PY) -m quality_models.quality train >/dev/null
	$(PY) -m tokenize_jobs.audio_codec train
	$(PY) -m tokenize_jobs.image_vq_train train
	touch $(STAMP)

sample: setup
	$(VENV)/bin/lakehouse sample

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

bench-crawl: setup
	$(PY) bench/crawl_bench.py --hosts 16 --pages 100 --delay 0.2

bench-ingest: setup
	$(PY) bench/ingest_bench.py --records 100000

bench-pii: setup
	$(PY) bench/pii_bench.py --docs 100000

bench-clean-eval: setup
	$(PY) bench/clean_eval.py

bench-quality-eval: setup
	$(PY) bench/quality_eval.py

bench-audio: setup
	$(PY) bench/audio_bench.py --hours 1

bench-image: setup
	$(PY) bench/image_bench.py --images 10000 --stage-images 2000 --neardup 100000

bench-video: setup
	$(PY) bench/video_bench.py --videos 8 --copies 12 --seconds 30 --long-seconds 300

bench-tokenize: setup
	$(PY) bench/tokenize_bench.py --docs 100000

bench-export: setup
	$(PY) bench/export_bench.py --scale 100 --phase B

bench-incremental: setup
	$(PY) bench/incremental_bench.py --docs 1000000 --share 0.01

bench-executors: setup
	$(PY) bench/executors_bench.py --docs 200000

bench-memory: setup
	$(PY) bench/memory_bench.py --docs 100000,1000000,3000000

clean:
	rm -rf lake build spark-warehouse metastore_db derby.log
