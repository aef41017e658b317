# Two entry points for a fresh machine: `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: study-v3 study-v3-collect study-v3-progress study-v3-seed-count study-v3-take-over study-v3-more-seeds study-v3-noise noise-v3-jobs study-v3-results mpnet-teachers mpnet-states mpnet-students mpnet-teachers-results recipe-check-mpnet recipe-check-mpnet-ft install demo test test-fast lint bench study study-jobs study-lanes study-restore study-results study-v2-results study-v3-lanes study-v3-records study-v1-results recipe-search recipe-results recipe-check clean

install: $(STAMP)

# torch goes first and pinned: the pinned version is the CPU wheel; an unpinned one pulls CUDA builds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,sweep,bench,mpnet]'
	@if $(BIN)/pip show torchvision >/dev/null 2>&1; then \
		echo "torchvision is installed next to the CPU torch; transformers cannot import with it. Remove it." >&2; exit 1; fi
	touch $(STAMP)

demo: install
	$(BIN)/rwkd train experiment=demo

# two workers, whole files per worker (module fixtures run once; DDP tests never overlap): most tests
# wait on single-threaded subprocess start-up, so the second core was idle when run serially
test: install
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

# no end-to-end runs and no checks of the real GLUE files: runs anywhere, on generated GLUE-layout files where
# ../shared/glue is absent
test-fast: install
	$(BIN)/pytest -q -m "not slow and not real_glue"

lint: install
	$(BIN)/ruff check rwkd tests benchmarks

bench: install
	$(BIN)/python benchmarks/step_cost.py

# The comparison study (conf/experiment/study_glue.yaml), two terms and four; days on a CPU, in parts: run it
# again to go on where it stopped. One task at a time, whole: the tuning seeds with every variant of every family,
# then the later seeds with the variant each family chose on the meta split (python -m rwkd.study.tuning) and
# every other scheme. study-results copies every finished job's results.json, weight summary and not-applicable
# record into results/, then draws the tables, the weight plots and docs/results.md from those committed files
# alone (docs/results_reading.md: the hand-written reading the page includes).
STUDY_EXPERIMENT := study_glue
STUDY_OUT := outputs/studies/glue_v2
STUDY_RESULTS := results/study_glue
STUDY_PAGE := study-v2-results
# cheapest per run first: a session that stops part-way has finished whole tasks, not a slice of every one.
# On 2 cores, two lanes of one torch thread each finish 1.13-1.20x the samples per second of one two-thread lane
# (benchmarks/study_lanes.py): `make study-lanes` runs them (study-jobs with OMP_NUM_THREADS=1, tasks ordered by
# STUDY_LANE_1/2) and draws the page once both have ended: a page drawn while a lane trains would dirty its commit
# `touch outputs/STOP` ends both lanes between jobs (each finishes the job in hand); rm it and run again to go on
STUDY_TASKS := mrpc stsb cola rte sst2
# one tuning seed: every variant on a second seed would cost about 10% more. Cost per job with one torch thread,
# measured on the AMD EPYC machine (results.json timing): on MRPC 6 CPU-min per `none`, fixed, annealed or
# heuristic job, 17 per RW-KD and 22 per metanet job (four terms: 7-8 and 19); on STS-B 4.3-5.5, 11 and 14.
# At those rates about 13 CPU-hours for MRPC's whole plan, 8.5 for STS-B's: some 55 for the five tasks with
# their teachers, about a tenth over the issue's budget of 50
STUDY_TUNING_SEEDS := 1
STUDY_LATER_SEEDS := 2,3,4,5
STUDY_K_TERMS := terms=two_teachers_hidden
STUDY_K_SCHEMES := fixed_a25,fixed_a50,fixed_a75,heuristic_ca_mkd,meta,meta_mix,metanet_terms
# later seeds run every row the tuning kept; STUDY_ROWS=--primary runs only the rows of the primary comparisons
STUDY_ROWS :=
# The variants are chosen from the study folder itself, and the page is drawn once at the end: study-results
# rewrites committed files, and a job started after that would record its commit as "-dirty".
study: study-jobs
	$(MAKE) study-results

# Two lanes of one torch thread each, their tasks in the orders below, each appending to its own log (a restart keeps what they wrote before); the page once both end.
# Every task is in both lanes, in different orders: the lanes share a task's sweeps (a job folder's lock lets one
# lane train it while the other skips it, and each waits for the other's tuning jobs before it chooses the
# variants), so a lane that has ended its first tasks helps with the other's instead of standing idle. SST-2 comes
# second in lane 2 so that every task has its first seeds, and the mean over tasks a value, well before the end
STUDY_LANE_1 := mrpc cola sst2 rte stsb
STUDY_LANE_2 := stsb sst2 rte cola mrpc
study-lanes: install study-restore
	$(MAKE) -j2 study-lane-1 study-lane-2
	$(MAKE) study-results

study-lane-%: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(MAKE) study-jobs STUDY_TASKS="$(STUDY_LANE_$*)" >> $(STUDY_OUT)/lane$*.log 2>&1 \
		|| { echo "study lane $* stopped (exit $$?): see $(STUDY_OUT)/lane$*.log"; exit 1; }

# Each term set of a task: its tuning seeds, then its later seeds one at a time (so a part that ends mid-way leaves
# whole seeds), each only where this machine may run it. Under student.init=finetuned a unit (one task's seed in one
# term set) pairs only runs cut from one build of the student's source, and another kind of CPU makes another build:
# rwkd.study.units holds a unit begun from another build for a machine of that kind. Held tuning seeds hold the
# later seeds too: the variants are chosen from them. ($(1): the term set's folder, $(2): its overrides, $(3): its
# tuning schemes, where they are not the experiment's own list)
UNITS = $(BIN)/python -m rwkd.study.units
define study_term_set
	tuning=$$($(UNITS) $(STUDY_OUT)/$(1) --task $$task --seeds $(STUDY_TUNING_SEEDS) $(if $(3),--weightings $(3)) \
		-- experiment=$(STUDY_EXPERIMENT) $(2)) || exit 1; \
	if [ "$$tuning" = "$(STUDY_TUNING_SEEDS)" ]; then \
		$(BIN)/rwkd train -m experiment=$(STUDY_EXPERIMENT) $(2) task=$$task seed=$$tuning $(if $(3),weighting=$(3)) || exit 1; \
		rows=$$($(BIN)/python -m rwkd.study.tuning $(STUDY_OUT)/$(1) --task $$task $(STUDY_ROWS) \
			--wait-seeds $(STUDY_TUNING_SEEDS) --experiment $(STUDY_EXPERIMENT) $(if $(3),--weightings $(3))) || exit 1; \
		later=$$($(UNITS) $(STUDY_OUT)/$(1) --task $$task --seeds $(STUDY_LATER_SEEDS) --weightings $$rows \
			-- experiment=$(STUDY_EXPERIMENT) $(2)) || exit 1; \
		for seed in $$(echo $$later | tr , ' '); do \
			$(BIN)/rwkd train -m experiment=$(STUDY_EXPERIMENT) $(2) task=$$task seed=$$seed weighting=$$rows || exit 1; \
		done; \
	else echo "rwkd: $(1)/$$task: its tuning seeds are held here, so its later seeds are too"; fi
endef

# `rwkd teacher` first: it makes (or finds) the task's teacher and the student's source, which the units are checked by
study-jobs: install study-restore
	for task in $(STUDY_TASKS); do \
		$(BIN)/rwkd teacher experiment=$(STUDY_EXPERIMENT) task=$$task || exit 1; \
		$(call study_term_set,terms2,,); \
		$(call study_term_set,terms4_teachers2_hidden1,$(STUDY_K_TERMS),$(STUDY_K_SCHEMES)); \
	done

# A fresh checkout has no outputs/: the committed records go back into the study folder (never over a file
# already there), so the sweep skips the jobs they record instead of training them again.
study-restore:
	mkdir -p $(STUDY_OUT) $(STUDY_RESULTS)
	cd $(STUDY_RESULTS) && find . \( -name results.json -o -name not_applicable.json -o -name 'weight_summary*.json' \) \
		-exec cp -n --parents {} "$(CURDIR)/$(STUDY_OUT)/" \;

study-results: install
	# finished jobs only (rwkd/study/collect.py): a running job has rewritten its weight summary, not its results.json
	$(BIN)/python -m rwkd.study.collect $(STUDY_OUT) $(STUDY_RESULTS)
	$(MAKE) --no-print-directory $(STUDY_PAGE)

# The study's page, docs/results_v2.md: each run read at its best epoch on the meta split (`rwkd report --select-on
# meta`, the default), pairs checked (rwkd/report/pair_check.py), from the committed records alone. docs/results.md
# is the page as published (the epoch each record kept, chosen on dev), kept as it was until the v3 page replaces
# it; its weight plots in docs/study_glue are linked (the weights do not depend on the epoch).
study-v2-results: install
	$(BIN)/rwkd report $(STUDY_RESULTS)/terms* --select-on meta --no-plots --out docs/study_glue_v2 --doc docs/results_v2.md \
		--plots-dir docs/study_glue --title "Comparison study: weighting families on GLUE, two terms and four (epochs chosen on the meta split)" \
		--seeds 5 --reading docs/results_v2_reading.md

# The third study (conf/experiment/study_glue_v3.yaml, issue 54): the same plan and lanes with the MPNet teacher's
# committed outputs, today's students and the K terms MPNet + the v2 MiniLM teacher + MPNet's hidden state; its
# records go to results/study_glue_v3. `make study-v3-lanes` runs (and resumes) it; the page follows the runs.
STUDY_V3 := STUDY_EXPERIMENT=study_glue_v3 STUDY_OUT=outputs/studies/glue_v3 STUDY_RESULTS=results/study_glue_v3 \
	STUDY_K_TERMS=terms=mpnet_minilm_hidden STUDY_PAGE=study-v3-records
study-v3-lanes: install
	$(MAKE) study-lanes $(STUDY_V3)

# the whole third study, resumable: its jobs, then its noisy-label condition (below); the page is drawn apart
study-v3: study-v3-lanes
	$(MAKE) study-v3-noise

# seeds beyond the five planned, for the primary comparisons' rows alone, where the page's primary power table
# asks for more to find one point (issue 54): make study-v3-more-seeds SEEDS=6,7
study-v3-more-seeds: install
	@test -n "$(SEEDS)" || { echo "give the seeds: make study-v3-more-seeds SEEDS=6,7" >&2; exit 2; }
	$(MAKE) study-lanes $(STUDY_V3) STUDY_LATER_SEEDS=$(SEEDS) STUDY_ROWS=--primary

# The finished v3 records (and the undefined combinations' not_applicable.json) into results/study_glue_v3, for a
# data commit while the lanes go on
study-v3-collect: install
	$(MAKE) study-results $(STUDY_V3)

# Where the v3 study stands, from its committed records: per term set, task and seed, the rows done and left,
# the builds and CPUs its runs came from, the CPU-hours spent and left (rwkd/study/progress.py; the cost of a task
# not run yet comes from the v2 study's records, scaled); then the same for the noisy-label condition.
# MORE_SEEDS=6,7: also the seeds study-v3-more-seeds adds, planned as the primary comparisons' rows
study-v3-progress: install
	$(BIN)/python -m rwkd.study.progress results/study_glue_v3 --experiment study_glue_v3 --term-set terms2 \
		--term-set terms4_teachers2_hidden1=$(STUDY_K_SCHEMES) --tasks mrpc,stsb,rte,cola,sst2 \
		--tuning-seeds $(STUDY_TUNING_SEEDS) --later-seeds $(STUDY_LATER_SEEDS) --more-seeds "$(MORE_SEEDS)" \
		--prior results/study_glue
	@echo "## the noisy-label condition (every row on every seed)"; echo
	$(BIN)/python -m rwkd.study.progress results/noise_v3 --experiment noise_v3 --term-set terms2 \
		--term-set terms3_teachers1_hidden1=meta --tasks mrpc,sst2 --tuning-seeds 1,2,3 --later-seeds ""

# The seed count by the rule the study fixed before it ran (README, "How many seeds"), from the committed records
# once every task has its five planned seeds: the noisy-label condition's runs and any set aside by a take-over
# count against the 90 CPU-hour budget (rwkd/report/seed_count.py). Read before the noisy-label condition has
# run, its cost is kept back: NOISE_RESERVE=<CPU-hours>.
study-v3-seed-count: install
	@test -d results/noise_v3 -o -n "$(NOISE_RESERVE)" || { echo "results/noise_v3 is not there: run the noisy-label \
		condition first (make study-v3-noise), or keep its cost back with NOISE_RESERVE=<CPU-hours>" >&2; exit 2; }
	$(BIN)/python -m rwkd.report.seed_count results/study_glue_v3/terms2 results/study_glue_v3/terms4_teachers2_hidden1 \
		--budget 90 --reserve $(or $(NOISE_RESERVE),0) --tuning-seeds $(STUDY_TUNING_SEEDS) \
		--also $(wildcard results/noise_v3 results/study_glue_v3_superseded)

# A unit held for a kind of CPU that is not coming back (rwkd/study/units.py says which) is made again here, whole:
# its runs from the other build move to outputs/studies/glue_v3_superseded and results/study_glue_v3_superseded
# with the reason (rwkd/study/take_over.py), and the lanes then train it. Stop the lanes first; commit the move.
# make study-v3-take-over TERMS=terms2 TASK=mrpc SEEDS=2,3,4,5 REASON="..."
study-v3-take-over: install
	@# TASK has a default (the recipe search's), which must not choose the unit moved aside: it is asked for here
	@test -n "$(TERMS)" -a "$(origin TASK)" = "command line" -a -n "$(SEEDS)" -a -n "$(REASON)" || { echo "give TERMS, TASK, SEEDS and REASON: \
		make study-v3-take-over TERMS=terms2 TASK=mrpc SEEDS=2,3 REASON='...'" >&2; exit 2; }
	$(MAKE) study-restore $(STUDY_V3)
	$(BIN)/python -m rwkd.study.take_over outputs/studies/glue_v3/$(TERMS) --records results/study_glue_v3 \
		--task $(TASK) --seeds $(SEEDS) --tuning-seeds $(STUDY_TUNING_SEEDS) --reason "$$REASON" -- experiment=study_glue_v3 \
		$(if $(filter terms2,$(TERMS)),,terms=mpnet_minilm_hidden)

study-v3-records: install
	@echo "v3 records in results/study_glue_v3; the v3 page is drawn once the study's runs are in (issue 54)"

# The v3 study's noisy-label condition (conf/experiment/noise_v3.yaml), after the study: MRPC and SST-2, two terms
# and RW-KD on K=3. Both lanes run every job, in opposite task order: a job folder's lock lets one lane train it
# while the other skips it. `touch outputs/STOP` ends them between jobs; run again to go on. Its records go to
# results/noise_v3 (with each run's changed rows, label_noise.json).
NOISE_V3 := STUDY_OUT=outputs/noise_v3 STUDY_RESULTS=results/noise_v3 STUDY_PAGE=study-v3-records
NOISE_V3_LANE_1 := mrpc,sst2
NOISE_V3_LANE_2 := sst2,mrpc
study-v3-noise: install
	$(MAKE) study-restore $(NOISE_V3)
	$(MAKE) -j2 noise-v3-lane-1 noise-v3-lane-2
	$(MAKE) study-results $(NOISE_V3)

noise-v3-lane-%: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(MAKE) noise-v3-jobs NOISE_V3_TASKS=$(NOISE_V3_LANE_$*) \
		>> outputs/noise_v3/lane$*.log 2>&1 || { echo "noise lane $* stopped (exit $$?): see outputs/noise_v3/lane$*.log"; exit 1; }

NOISE_V3_TASKS ?= mrpc,sst2
noise-v3-jobs: install
	$(BIN)/rwkd train -m experiment=noise_v3 task=$(NOISE_V3_TASKS)
	$(BIN)/rwkd train -m experiment=noise_v3 terms=hidden weighting=meta task=$(NOISE_V3_TASKS)

# The v3 page, once the study and its noisy-label condition are in: docs/results.md from the committed records
# alone (the noisy runs in a section of their own: rwkd/report/noise.py), each run at its best meta-split epoch.
# It replaces the v2 study's page as published (epochs chosen on dev; docs/results_v2.md reads those records
# at the meta-chosen epoch, and git keeps the page); tests/test_study_results.py's check of that page goes with it.
study-v3-results: install
	$(BIN)/rwkd report results/study_glue_v3/terms* results/noise_v3 --out docs/study_glue_v3 --doc docs/results.md \
		--plots-dir docs/study_glue_v3 --seeds 5 --reading docs/results_v3_reading.md \
		--title "The third comparison study: weighting families on GLUE with a teacher worth distilling"

# The first study (the under-trained regime, conf/experiment/study_glue_v1.yaml), kept as it is:
# study-v1-results writes docs/results_v1.md from its committed records alone, each run read at its best epoch on
# the meta split (as published, the epoch each record kept, chosen on dev: the page's git history).
STUDY_V1_RESULTS := results/study_glue_v1
study-v1-results: install
	$(BIN)/rwkd report $(STUDY_V1_RESULTS) --select-on meta --no-plots --out docs/study_glue_v1 --doc docs/results_v1.md --plots-dir docs/study_glue_v1 \
		--title "The first comparison study: weighting families on GLUE, in the under-trained regime" \
		--reading docs/results_v1_reading.md

# The recipe search (conf/experiment/recipe_teacher.yaml, recipe_student.yaml): per task, the teacher's
# fine-tuning, then the no-KD student, each trial chosen on the held-out meta split. Resumable, one task at a
# time: `make recipe-search TASK=stsb`. recipe-results copies the trial records into results/ and writes
# docs/recipe.md from them alone.
RECIPE_OUT := outputs/recipe_search
RECIPE_RESULTS := results/recipe_search
TASK ?= mrpc
recipe-search: install
	mkdir -p $(RECIPE_OUT)
	cd $(RECIPE_RESULTS) 2>/dev/null && find . \( -name results.json -o -name teacher_trial.json \) -exec cp -n --parents {} "$(CURDIR)/$(RECIPE_OUT)/" \; || true
	$(BIN)/rwkd teacher -m experiment=recipe_teacher task=$(TASK)
	$(MAKE) recipe-results    # writes the chosen teacher into conf/recipe/: the student stage's teacher
	$(BIN)/rwkd train -m experiment=recipe_student task=$(TASK)
	$(MAKE) recipe-results

recipe-results: install
	mkdir -p $(RECIPE_RESULTS)
	cd $(RECIPE_OUT) && find . \( -name results.json -o -name teacher_trial.json -o -name multirun.yaml \) \
		-exec cp --parents {} "$(CURDIR)/$(RECIPE_RESULTS)/" \;
	$(BIN)/rwkd recipe $(RECIPE_RESULTS) --doc docs/recipe.md --write-conf conf/recipe

# The defaults checked (conf/experiment/recipe_check.yaml): no-KD and fixed-alpha KD, three seeds, nothing but
# the defaults; `make recipe-check TASK=stsb`, then the committed table in docs/recipe_check/report.md.
CHECK_OUT := outputs/recipe_check
CHECK_RESULTS := results/recipe_check
recipe-check: install
	mkdir -p $(CHECK_OUT)
	cd $(CHECK_RESULTS) 2>/dev/null && find . -name results.json -exec cp -n --parents {} "$(CURDIR)/$(CHECK_OUT)/" \; || true
	$(BIN)/rwkd train -m experiment=recipe_check task=$(TASK)
	mkdir -p $(CHECK_RESULTS)
	cd $(CHECK_OUT) && find . -name results.json -exec cp --parents {} "$(CURDIR)/$(CHECK_RESULTS)/" \;
	$(BIN)/rwkd report $(CHECK_RESULTS) --out docs/recipe_check --no-plots

# The 110M MPNet teacher (conf/teacher/mpnet.yaml) on each task: the base-model recipe's trials
# (conf/experiment/recipe_teacher_mpnet.yaml), each kept at its best epoch on the meta split and chosen there too;
# each writes its outputs (logits). mpnet-students then searches the student's learning rate for KD from those outputs
# (conf/experiment/recipe_student_mpnet.yaml). mpnet-teachers-results commits the trial records and outputs into
# results/, writes docs/recipe_mpnet.md and the per-task defaults (conf/recipe/<task>_mpnet_minilm.yaml, which distil
# the committed outputs): no other machine fine-tunes these teachers again. Resumable, task by task.
MPNET_OUT := outputs/recipe_search_mpnet
MPNET_RESULTS := results/recipe_search_mpnet
OUTPUTS_RESULTS := results/teacher_outputs
MPNET_TASKS := mrpc rte stsb cola sst2
mpnet-teachers: install
	for task in $(MPNET_TASKS); do $(BIN)/rwkd teacher -m experiment=recipe_teacher_mpnet task=$$task || exit 1; done
	$(MAKE) mpnet-teachers-results

# MPNet's outputs with its last [CLS] states (float16), for the v3 study's hidden-state term
# (conf/terms/mpnet_minilm_hidden.yaml names the folders): from the very teachers the committed logits came from
# (each task's command is the one its outputs.json records; the teacher is found in outputs/teachers/), under the
# thread count that wrote those logits, so the logits come out the same bits. Written into results/ to commit.
MPNET_STATES := mrpc:2 rte:2 stsb:1 cola:2 sst2:1
mpnet-states: install
	for spec in $(MPNET_STATES); do task=$${spec%:*}; threads=$${spec#*:}; \
		OMP_NUM_THREADS=$$threads MKL_NUM_THREADS=$$threads $(BIN)/rwkd teacher experiment=recipe_teacher_mpnet \
			task=$$task teacher.finetune.lr=2e-5 teacher.outputs=null teacher_outputs.states=[-1] \
			teacher_outputs.state_dtype=float16 paths.teacher_outputs=results/teacher_outputs_states || exit 1; done

mpnet-students: install
	for task in $(MPNET_TASKS); do $(BIN)/rwkd train -m experiment=recipe_student_mpnet task=$$task || exit 1; done
	$(MAKE) mpnet-teachers-results

mpnet-teachers-results: install
	mkdir -p $(MPNET_RESULTS) $(OUTPUTS_RESULTS)
	cd $(MPNET_OUT) && find . \( -name teacher_trial.json -o -name results.json -o -name multirun.yaml \) -exec cp --parents {} "$(CURDIR)/$(MPNET_RESULTS)/" \;
	cd outputs/teacher_outputs && find . -path './*/mpnet-base-*/outputs.json' -printf '%h\n' | while read -r folder; do \
		mkdir -p "$(CURDIR)/$(OUTPUTS_RESULTS)/$$folder" && cp "$$folder"/* "$(CURDIR)/$(OUTPUTS_RESULTS)/$$folder/" || exit 1; done
	$(BIN)/rwkd recipe $(MPNET_RESULTS) --doc docs/recipe_mpnet.md --write-conf conf/recipe --outputs-dir $(OUTPUTS_RESULTS)

# The strong-teacher setting checked (conf/experiment/recipe_check_mpnet.yaml): the 6-layer MiniLM with and without
# KD from the committed MPNet outputs, three seeds; `make recipe-check-mpnet TASK=mrpc`.
MPNET_CHECK_OUT := outputs/recipe_check_mpnet
MPNET_CHECK_RESULTS := results/recipe_check_mpnet
recipe-check-mpnet: install
	mkdir -p $(MPNET_CHECK_OUT)
	cd $(MPNET_CHECK_RESULTS) 2>/dev/null && find . -name results.json -exec cp -n --parents {} "$(CURDIR)/$(MPNET_CHECK_OUT)/" \; || true
	$(BIN)/rwkd train -m experiment=recipe_check_mpnet task=$(TASK)
	mkdir -p $(MPNET_CHECK_RESULTS)
	cd $(MPNET_CHECK_OUT) && find . -name results.json -exec cp --parents {} "$(CURDIR)/$(MPNET_CHECK_RESULTS)/" \;
	$(BIN)/rwkd report $(MPNET_CHECK_RESULTS)/*/minilm-layers0-1-2-3 --out docs/recipe_check_mpnet --no-plots

# The strong teacher distilled into today's students (conf/experiment/recipe_check_mpnet_ft.yaml): the v2 study's
# students, whose start (student.init=finetuned) is the task's MiniLM fine-tuned by the v2 recipe, in the v2 study's
# cached teacher folder (`rwkd teacher` makes it where there is none), with and without KD from the committed MPNet
# outputs; `make recipe-check-mpnet-ft TASK=mrpc`.
recipe-check-mpnet-ft: install
	mkdir -p $(MPNET_CHECK_OUT)
	cd $(MPNET_CHECK_RESULTS) 2>/dev/null && find . -name results.json -exec cp -n --parents {} "$(CURDIR)/$(MPNET_CHECK_OUT)/" \; || true
	$(BIN)/rwkd teacher experiment=recipe_check_mpnet_ft task=$(TASK)
	$(BIN)/rwkd train -m experiment=recipe_check_mpnet_ft task=$(TASK)
	mkdir -p $(MPNET_CHECK_RESULTS)
	cd $(MPNET_CHECK_OUT) && find . -name results.json -exec cp --parents {} "$(CURDIR)/$(MPNET_CHECK_RESULTS)/" \;
	$(BIN)/rwkd report $(MPNET_CHECK_RESULTS)/*/minilm-ft-layers* --out docs/recipe_check_mpnet/ft --no-plots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
