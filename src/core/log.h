// Levelled logging through one process-wide sink. Library code logs here and never prints; the
// CLI installs a stderr sink, tests may install a capturing one. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace earshot {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogSink = std::function<void(LogLevel, std::string_view)>;

// Replaces the sink (nullptr = discard everything). Default: discard.
void set_log_sink(LogSink sink);
// Messages below this level are dropped before formatting. Default kInfo.
void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, std::string_view message);

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() <= LogLevel::kInfo) {
        log_message(LogLevel::kInfo, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void log_warning(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() <= LogLevel::kWarning) {
        log_message(LogLevel::kWarning, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
    if (log_level() <= LogLevel::kDebug) {
        log_message(LogLevel::kDebug, fmt::format(f, std::forward<Args>(args)...));
    }
}

}  // namespace earshot
