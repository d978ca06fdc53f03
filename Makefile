# Two commands do everything, on a fresh machine too (see README.md):
#   make book   set up, then build the HTML book into _build/html
#   make test   set up, then run every test (helpers, notebooks, the built book)
VENV ?= .venv
BIN := $(VENV)/bin
export VENV

.PHONY: setup book test unit notebooks book-check lint model benchmark clean student student-check compat \
	newest grade grade-check

setup:
	@bash scripts/setup.sh

# The page "Explain your own photo" runs EfficientNet-Lite0 in the browser: its weights and
# the book's photos are exported into .explorer/ (git-ignored) when their sources change.
EXPLORER_DATA := .explorer/explorer-data/model.js
$(EXPLORER_DATA): scripts/export_tfjs.py helpers/imagenet.py helpers/data.py \
		helpers/imagenet_classes.txt requirements.txt
	$(BIN)/python scripts/export_tfjs.py

# Sphinx copies the static files only when it writes a page: a changed script or export
# alone would leave the built book's copies stale, so the explorer's page is written again.
EXPLORER_PAGE := _build/html/book/explorer.html

book: setup
	@$(MAKE) --no-print-directory $(EXPLORER_DATA)
	@if [ -f $(EXPLORER_PAGE) ] && [ -n "$$(find .explorer .tfjs/static book/_static -newer \
		$(EXPLORER_PAGE) -type f | head -n 1)" ]; then rm -f $(EXPLORER_PAGE); fi
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open $(CURDIR)/_build/html/index.html in a browser."

test: setup lint unit notebooks book-check

lint:
	$(BIN)/ruff check .

unit:
	$(BIN)/python -m pytest tests -q

# Two notebooks at a time, each in its own kernel (--dist loadfile keeps a notebook's cells
# together and in order): on 2 cores this takes about two thirds of the time of one by one.
NBVAL := $(BIN)/python -m pytest -q -n 2 --dist loadfile --nbval notebooks \
	--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# Twice: as this machine runs them, then with TensorFlow's oneDNN CPU kernels switched off,
# which rounds differently, as another machine's CPU would. An output that only one of the
# two reproduces is not a fact of the book but of one CPU.
notebooks:
	$(NBVAL)
	TF_ENABLE_ONEDNN_OPTS=0 $(NBVAL)

book-check: book
	$(BIN)/python -m pytest -q tests/book_check.py

# The student edition: every chapter without its solutions, into _build/student/.
student: setup
	$(BIN)/python scripts/student.py

# Every student notebook run top to bottom (minutes): no error, every self-check "Not yet".
student-check: setup
	STUDENT_CHECK=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_student.py -k notebook_runs

# Grade the students' notebooks handed in (book/teachers.md): make grade SUBMISSIONS=class/
# writes grades/grades.csv, grades/summary.md and grades/feedback/. It runs their code.
SUBMISSIONS ?=
GRADES ?= grades
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or-notebooks [GRADES=grades]"; exit 2; }
	$(BIN)/python -m helpers.grade $(SUBMISSIONS) --out $(GRADES)

# The grader's slow test, not in `make test` (45 s more): a notebook that ignores Ctrl-C in
# an endless loop, so that its kernel is restarted and the cells before it run again.
grade-check: setup
	GRADE_SLOW=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_grade.py

# The oldest supported TensorFlow/Keras pair (requirements-compat.txt, in .venv-compat): the
# helpers' unit tests listed here, then every notebook top to bottom (scripts/compat.sh).
COMPAT_TESTS := tests/test_explain.py tests/test_plot.py tests/test_conv.py tests/test_data.py \
	tests/test_models.py tests/test_exercises.py $(wildcard tests/test_ch*_exercises.py) \
	tests/test_imagenet.py tests/test_evaluate.py tests/test_shapes.py tests/test_package.py \
	tests/test_grade.py tests/test_docstrings.py tests/test_keras_internals.py tests/test_validate.py
compat: setup
	COMPAT_TESTS="$(COMPAT_TESTS)" bash scripts/compat.sh

# The newest TensorFlow and Keras the registry offers, whatever requirements.txt pins (in
# .venv-newest, made again when a newer release ships): the same unit tests as compat. CI
# reports a failure here without failing (scripts/newest.sh, .ci/run).
newest: setup
	NEWEST_TESTS="$(COMPAT_TESTS)" bash scripts/newest.sh

# Retrain the committed course model (about 25 minutes on 2 cores).
model: setup
	$(BIN)/python -m helpers.train

benchmark: setup
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf _build

# Retrain chapter 07's shapes model and Clever Hans model (about 3 minutes on 2 cores).
.PHONY: models-ch07 evidence
models-ch07: setup
	$(BIN)/python -m helpers.shapes
	$(BIN)/python -m helpers.clever_hans

# Measure every method on chapter 07's 64 photo mosaics again, into helpers/photo_evidence.npz
# (about a quarter of an hour on 2 cores; tests/test_evidence.py checks the file against the code).
evidence: setup
	$(BIN)/python -m helpers.evidence
