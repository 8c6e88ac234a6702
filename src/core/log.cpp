#include "core/log.h"

#include <atomic>
#include <mutex>

namespace earshot {
namespace {
std::mutex g_mu;
LogSink g_sink;  // protected by g_mu
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace

void set_log_sink(LogSink sink) {
    std::lock_guard lock(g_mu);
    g_sink = std::move(sink);
}

void set_log_level(LogLevel level) {
    g_level.store(static_cast<int>(level));
}

LogLevel log_level() {
    return static_cast<LogLevel>(g_level.load());
}

void log_message(LogLevel level, std::string_view message) {
    if (static_cast<int>(level) < g_level.load())
        return;
    std::lock_guard lock(g_mu);
    if (g_sink)
        g_sink(level, message);
}

}  // namespace earshot
