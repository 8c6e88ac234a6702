// Small number formatting shared by help texts and reports. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace earshot {

// 50000 -> "50,000" (as docs/cli.md writes numbers).
inline std::string thousands(std::size_t n) {
    const std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0)
            out += ',';
        out += digits[i];
    }
    return out;
}

}  // namespace earshot
