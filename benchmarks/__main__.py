"""`make bench`: speed benchmarks first (quiet machine), then the study accuracy targets, then the summary table.

python -m benchmarks                 # everything, ending with the summary table
python -m benchmarks summary         # the summary table of benchmarks/results/*.json only (no training; also
                                     # writes benchmarks/results/SUMMARY.md); any run below also ends with it
python -m benchmarks overhead        # trainer overhead + loader share only
python -m benchmarks run-overhead    # study.run of a small CNN (5 epochs) vs a raw loop with val + checkpoints
python -m benchmarks scratch         # NumPy engine vs torch step time, identical weights
python -m benchmarks naive-bayes     # our naive Bayes vs scikit-learn on AG News titles
python -m benchmarks sequence        # LSTM vs 1-D CNN vs Transformer step time as sequences grow
python -m benchmarks rnn-padding     # padding-blind BiLSTM: torch's packed sequences vs our encoder
python -m benchmarks minilm          # pretrained MiniLM in our encoder vs the published embeddings
python -m benchmarks som             # SOM vs MiniSom: online vs online (same algorithm), batch vs online (not)
python -m benchmarks nab [RUN_DIR]   # the NAB target on nyc_taxi (runs nab-autoencoder, ~30 s)
python -m benchmarks nab-corpus [RUN_DIR]  # nab-autoencoder over NAB's 58 files beside the published scoreboard (~25 min)
python -m benchmarks speedrun        # mnist-speedrun vs the published raw recipe, seed by seed (<= 0.6x, >= 99 %)
python -m benchmarks executors       # 2 arms x 4 seeds: --jobs 2 and --executor ray vs local (target >= 1.6x)
python -m benchmarks ddp             # 2 gloo processes x b/2 vs 1 x b, 20 steps: max relative weight difference
python -m benchmarks search-jobs     # a 16-trial search, --jobs 2 vs --jobs 1 (target <= 0.65x)
python -m benchmarks lr-find         # lr-find's suggestion vs a 5-rate grid on mlp-vs-cnn's CNN (3 seeds each)
python -m benchmarks search-pruning [--pruner NAME] [RUN_DIR...]  # search-cnn pruned vs not (runs given: read)
python -m benchmarks search-samplers [RUN_DIR]  # the search-vs-random study: TPE vs random vs grid, verdict
python -m benchmarks studies         # accuracy targets (long: trains the built-in studies)
python -m benchmarks studies RUN_DIR RUN_DIR   # ... or summarize finished runs of the target studies
python -m benchmarks --isa avx2 NAME ...       # any of them with every numeric library held to AVX2 kernels (an
                                               # AVX2-only CPU emulated; benchmarks/isa.py): results to NAME.avx2.json
"""
import sys

from benchmarks import isa

isa.reexec(sys.argv)  # --isa: again, in a process started with the caps (before torch and NumPy load)
if cap := isa.capped():  # checks that torch took the cap
    print(f"kernels held to {cap.upper()} (an emulated {cap.upper()}-only CPU; benchmarks/isa.py)", flush=True)

from benchmarks import (ddp_equivalence, executors, lr_find_check, minilm_parity, nab_corpus, nab_target,  # noqa: E402
                        naive_bayes,
                        rnn_padding, run_overhead, scratch_speed, search, sequence_length, som_speed, speedrun, studies,
                        summary, trainer_overhead)

which = sys.argv[1:] or ["overhead", "run-overhead", "scratch", "naive-bayes", "sequence", "rnn-padding", "minilm",
                         "som", "nab", "nab-corpus", "speedrun", "executors", "ddp", "lr-find", "search-jobs",
                         "search-pruning", "search-samplers", "studies"]
if "overhead" in which:
    trainer_overhead.main()
if "run-overhead" in which:
    run_overhead.main()
if "scratch" in which:
    scratch_speed.main()
if "naive-bayes" in which:
    naive_bayes.main()
if "sequence" in which:
    sequence_length.main()
if "rnn-padding" in which:
    rnn_padding.main()
if "minilm" in which:
    minilm_parity.main()
if "som" in which:
    som_speed.main()
if "nab" in which:
    nab_target.main(next((a for a in sys.argv[2:] if "/" in a), None))
if "nab-corpus" in which:
    nab_corpus.main(next((a for a in sys.argv[2:] if "/" in a), None))
if "speedrun" in which:
    speedrun.main()
if "executors" in which:
    executors.main()
if "ddp" in which:
    ddp_equivalence.main()
if "lr-find" in which:
    lr_find_check.main()
if "search-jobs" in which:
    search.jobs()
if "search-pruning" in which:
    named = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--pruner"]
    search.pruning([a for a in sys.argv[2:] if "/" in a], tuple(named) or ("hyperband",))
if "search-samplers" in which:
    search.samplers(next((a for a in sys.argv[2:] if "/" in a), None))
if "studies" in which:
    studies.main([a for a in sys.argv[2:] if "/" in a])
if which != ["summary"]:
    print()
summary.main()  # every results file's claims in one table (benchmarks/results/SUMMARY.md)
