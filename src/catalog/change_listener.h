// Follows the writes to a PostgreSQL catalog made by any process: every transaction that stores
// or removes items sends `NOTIFY earshot_catalog` (delivered when it commits), and a listener
// holds its own connection with `LISTEN earshot_catalog`. `earshot serve` uses one to refresh
// its in-memory indexes as soon as another machine writes (docs/scaling.md, "Replicated
// serving").
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"

namespace earshot {

// The channel the PostgreSQL catalog notifies on.
inline constexpr const char* kCatalogChangeChannel = "earshot_catalog";

class CatalogChangeListener {
public:
    virtual ~CatalogChangeListener() = default;
    // Waits up to `timeout` for a notification. true: the catalog changed since the previous call
    // (several writes may be folded into one wake-up), or the connection was lost and re-made, so
    // changes may have been missed; false: nothing arrived. kUnavailable when the server cannot
    // be reached (the next call tries to reconnect).
    virtual Result<bool> wait(std::chrono::milliseconds timeout) = 0;
};

// A listener on the PostgreSQL catalog at `uri` (is_postgres_uri). kUnavailable if it cannot
// connect; kInvalidArgument for a location that is not a PostgreSQL URI.
Result<std::unique_ptr<CatalogChangeListener>> listen_catalog_changes(const std::string& uri);

}  // namespace earshot
