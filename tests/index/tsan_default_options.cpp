// ThreadSanitizer defaults for earshot_index_tests (the `tsan` test preset; docs/reliability.md,
// "ThreadSanitizer test preset"). hnswlib's insertion takes one mutex per element it touches
// (65,536 label locks plus one per element), which makes TSan's lock-order (deadlock) detector
// about 30x slower (one HNSW test: 138 s instead of 4.7 s) and reports cycles that cannot close
// (tests/tsan.supp says why). Data races are still detected here; TSAN_OPTIONS from the
// environment overrides this (e.g. detect_deadlocks=1 to look anyway).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EARSHOT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define EARSHOT_TSAN 1
#endif

#ifdef EARSHOT_TSAN
extern "C" const char* __tsan_default_options();
extern "C" const char* __tsan_default_options() {
    return "detect_deadlocks=0";
}
#endif
