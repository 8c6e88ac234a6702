// EARSHOT_CHECK(cond): for invariants our own code guarantees (bugs, not errors). Prints file,
// line and condition, then aborts in every build type.
#pragma once

#include <cstdio>
#include <cstdlib>

#define EARSHOT_CHECK(cond)                                                                       \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::fprintf(stderr, "%s:%d: EARSHOT_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                         \
        }                                                                                         \
    } while (0)
