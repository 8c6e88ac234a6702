// Thin RAII wrappers over the SQLite C API, internal to the catalog module (the one adapter that
// sees sqlite3 types). Database owns a sqlite3* (closed with sqlite3_close_v2), Statement owns a
// sqlite3_stmt* (finalized), StatementLease resets a cached statement when it goes out of scope,
// and Transaction rolls back unless commit() succeeded. SQLite result codes become Error values
// via sqlite_error(). Not thread-safe: the Catalog serialises access with its own mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <sqlite3.h>

#include "core/status.h"

namespace earshot::detail {

// Maps an SQLite (extended) result code to our coarse codes: CORRUPT/NOTADB -> kCorruption,
// BUSY/LOCKED -> kUnavailable, IOERR/FULL/CANTOPEN/READONLY/PERM -> kIoError,
// CONSTRAINT -> kInvalidArgument, everything else -> kInternal.
ErrorCode map_sqlite_code(int rc);
// An Error "<what>: <sqlite message> (<code name>)" for the connection's last error.
tl::unexpected<Error> sqlite_error(sqlite3* db, int rc, std::string_view what);

struct SqliteCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteCloser>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

class Statement {
public:
    Statement(sqlite3* db, StatementPtr stmt) : db_(db), stmt_(std::move(stmt)) {}

    // Parameter indexes are 1-based, as in SQLite.
    Status bind_int64(int index, std::int64_t value);
    Status bind_double(int index, double value);
    Status bind_text(int index, std::string_view value);
    // Binds float32 values as a little-endian BLOB (copied by SQLite).
    Status bind_floats(int index, std::span<const float> values);
    // Binds bytes as a BLOB (copied by SQLite); empty binds a zero-length BLOB, not NULL.
    Status bind_blob(int index, std::span<const std::uint8_t> bytes);
    Status bind_null(int index);

    // Executes one step: true when a row is available, false when done.
    Result<bool> step();
    // Steps until done (for statements that return no rows or whose rows are ignored).
    Status run();

    std::int64_t column_int64(int column) const;
    double column_double(int column) const;
    std::string column_text(int column) const;
    bool column_is_null(int column) const;
    // The BLOB bytes of the current row; valid until the next step/reset.
    std::span<const std::byte> column_blob(int column) const;

    // Resets to the start and clears bindings, so the statement can be reused.
    void reset();
    sqlite3_stmt* get() const { return stmt_.get(); }

private:
    Status check_bind(int rc, int index);

    sqlite3* db_;
    StatementPtr stmt_;
};

// A borrowed cached statement; resets it (ending any implicit read transaction) on destruction.
class StatementLease {
public:
    explicit StatementLease(Statement* stmt) : stmt_(stmt) {}
    ~StatementLease() {
        if (stmt_ != nullptr)
            stmt_->reset();
    }
    StatementLease(StatementLease&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
    StatementLease(const StatementLease&) = delete;
    StatementLease& operator=(const StatementLease&) = delete;
    StatementLease& operator=(StatementLease&&) = delete;

    Statement* operator->() const { return stmt_; }
    Statement& operator*() const { return *stmt_; }

private:
    Statement* stmt_;
};

class Database {
public:
    // Opens with sqlite3_open_v2 (flags as given, plus SQLITE_OPEN_NOMUTEX). Errors name the path.
    static Result<std::unique_ptr<Database>> open(const std::string& path, int flags);

    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    sqlite3* get() const { return db_.get(); }

    // Runs one or more SQL statements that return no rows we need.
    Status exec(const std::string& sql);
    // Prepares a fresh statement.
    Result<std::unique_ptr<Statement>> prepare(std::string_view sql);
    // Returns a cached prepared statement for this exact SQL text (prepared on first use).
    Result<StatementLease> cached(std::string_view sql);
    // Reads a single integer from a query such as "PRAGMA user_version".
    Result<std::int64_t> query_int64(std::string_view sql);
    // Number of rows changed by the last INSERT/UPDATE/DELETE.
    std::int64_t changes() const;
    // Drops every cached statement.
    void clear_cache() { cache_.clear(); }

private:
    explicit Database(SqlitePtr db) : db_(std::move(db)) {}

    SqlitePtr db_;  // declared first: destroyed after the statements in cache_
    std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

// An explicit transaction: begin() (BEGIN IMMEDIATE: takes the write lock now, so writers never
// deadlock upgrading) or begin_read() (BEGIN DEFERRED: one consistent snapshot for several
// reads). The destructor rolls back unless commit() succeeded.
class Transaction {
public:
    explicit Transaction(Database& db) : db_(db) {}
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    Status begin();
    Status begin_read();
    Status commit();

private:
    Database& db_;
    bool active_ = false;
};

}  // namespace earshot::detail
