// Compile-time check that Result<T> and Status are [[nodiscard]] (issue #15): a dropped Result
// must not compile, or errors get lost silently. Not part of any executable: the CTest tests
// ResultNodiscardProbe.* (tests/core/CMakeLists.txt) run the compiler on this file with
// -Werror=unused-result; EARSHOT_PROBE_DISCARD=0 must compile, 1-3 must fail with "ignoring
// return value". The control case 0 makes sure a failure comes from the discard, not the setup.
#include "core/status.h"

namespace earshot::probe {

Result<int> value();
Status status();

int use() {
#if EARSHOT_PROBE_DISCARD == 1
    value();
#elif EARSHOT_PROBE_DISCARD == 2
    status();
#elif EARSHOT_PROBE_DISCARD == 3
    status().and_then([] { return value(); });
#else
    (void)status();
    if (auto r = value())
        return *r;
#endif
    return 0;
}

}  // namespace earshot::probe
