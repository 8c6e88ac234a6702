#include "catalog/sqlite_handle.h"

#include <bit>
#include <cstring>
#include <limits>
#include <vector>

namespace earshot::detail {

ErrorCode map_sqlite_code(int rc) {
    switch (rc & 0xff) {
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            return ErrorCode::kCorruption;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return ErrorCode::kUnavailable;
        case SQLITE_IOERR:
        case SQLITE_FULL:
        case SQLITE_CANTOPEN:
        case SQLITE_READONLY:
        case SQLITE_PERM:
            return ErrorCode::kIoError;
        case SQLITE_CONSTRAINT:
        case SQLITE_TOOBIG:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
            return ErrorCode::kInvalidArgument;
        default:
            return ErrorCode::kInternal;
    }
}

tl::unexpected<Error> sqlite_error(sqlite3* db, int rc, std::string_view what) {
    std::string message(what);
    message += ": ";
    const std::string_view generic = sqlite3_errstr(rc);
    const char* db_message = db != nullptr ? sqlite3_errmsg(db) : nullptr;
    const std::string_view specific = db_message != nullptr ? db_message : generic;
    message += specific;
    if (specific != generic) {
        message += " (";
        message += generic;
        message += ")";
    }
    return make_error(map_sqlite_code(rc), std::move(message));
}

// ---- Statement ----------------------------------------------------------------------------

Status Statement::check_bind(int rc, int index) {
    if (rc == SQLITE_OK)
        return ok_status();
    return sqlite_error(db_, rc, "bind parameter " + std::to_string(index));
}

Status Statement::bind_int64(int index, std::int64_t value) {
    return check_bind(sqlite3_bind_int64(stmt_.get(), index, value), index);
}

Status Statement::bind_double(int index, double value) {
    return check_bind(sqlite3_bind_double(stmt_.get(), index, value), index);
}

Status Statement::bind_text(int index, std::string_view value) {
    return check_bind(sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(),
                                          SQLITE_TRANSIENT, SQLITE_UTF8),
                      index);
}

Status Statement::bind_blob(int index, std::span<const std::uint8_t> bytes) {
    static const std::uint8_t kEmpty = 0;
    const void* data = bytes.empty() ? &kEmpty : bytes.data();
    return check_bind(sqlite3_bind_blob64(stmt_.get(), index, data, bytes.size(), SQLITE_TRANSIENT),
                      index);
}

Status Statement::bind_floats(int index, std::span<const float> values) {
    const std::size_t n_bytes = values.size() * sizeof(float);
    if constexpr (std::endian::native == std::endian::little) {
        // A zero-length blob must still be a BLOB, not NULL: pass a non-null pointer.
        static const float kEmpty = 0.0f;
        const void* data = values.empty() ? &kEmpty : values.data();
        return check_bind(sqlite3_bind_blob64(stmt_.get(), index, data, n_bytes, SQLITE_TRANSIENT),
                          index);
    } else {
        std::vector<std::uint32_t> swapped(values.size() + 1);
        for (std::size_t i = 0; i < values.size(); ++i) {
            swapped[i] = __builtin_bswap32(std::bit_cast<std::uint32_t>(values[i]));
        }
        return check_bind(
            sqlite3_bind_blob64(stmt_.get(), index, swapped.data(), n_bytes, SQLITE_TRANSIENT),
            index);
    }
}

Status Statement::bind_null(int index) {
    return check_bind(sqlite3_bind_null(stmt_.get(), index), index);
}

Result<bool> Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    const char* sql = sqlite3_sql(stmt_.get());
    std::string what = "executing '";
    std::string_view text = sql != nullptr ? sql : "";
    what += text.substr(0, 60);
    if (text.size() > 60)
        what += "...";
    what += "'";
    return sqlite_error(db_, rc, what);
}

Status Statement::run() {
    while (true) {
        EARSHOT_ASSIGN_OR_RETURN(bool row, step());
        if (!row)
            return ok_status();
    }
}

std::int64_t Statement::column_int64(int column) const {
    return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::column_double(int column) const {
    return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::column_text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
    if (text == nullptr)
        return {};
    int n = sqlite3_column_bytes(stmt_.get(), column);
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

bool Statement::column_is_null(int column) const {
    return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

std::span<const std::byte> Statement::column_blob(int column) const {
    const void* data = sqlite3_column_blob(stmt_.get(), column);
    int n = sqlite3_column_bytes(stmt_.get(), column);
    if (data == nullptr || n <= 0)
        return {};
    return {static_cast<const std::byte*>(data), static_cast<std::size_t>(n)};
}

void Statement::reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

// ---- Database -----------------------------------------------------------------------------

Result<std::unique_ptr<Database>> Database::open(const std::string& path, int flags) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    SqlitePtr db(raw);  // sqlite3_open_v2 may return a handle even on failure
    if (rc != SQLITE_OK) {
        return sqlite_error(db.get(), rc, "opening '" + path + "'");
    }
    sqlite3_extended_result_codes(db.get(), 1);
    return std::unique_ptr<Database>(new Database(std::move(db)));
}

Database::~Database() {
    cache_.clear();  // finalize statements before closing the connection
}

Status Database::exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK)
        return ok_status();
    std::string message = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    std::string what = "executing '";
    what += sql.substr(0, 60);
    if (sql.size() > 60)
        what += "...";
    what += "': " + message;
    if (message != sqlite3_errstr(rc))
        what += std::string(" (") + sqlite3_errstr(rc) + ")";
    return make_error(map_sqlite_code(rc), std::move(what));
}

Result<std::unique_ptr<Statement>> Database::prepare(std::string_view sql) {
    if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return make_error(ErrorCode::kInvalidArgument, "SQL text too long");
    }
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) {
        std::string what = "preparing '";
        what += sql.substr(0, 60);
        if (sql.size() > 60)
            what += "...";
        what += "'";
        return sqlite_error(db_.get(), rc, what);
    }
    return std::make_unique<Statement>(db_.get(), std::move(stmt));
}

Result<StatementLease> Database::cached(std::string_view sql) {
    auto it = cache_.find(std::string(sql));
    if (it == cache_.end()) {
        EARSHOT_ASSIGN_OR_RETURN(auto stmt, prepare(sql));
        it = cache_.emplace(std::string(sql), std::move(stmt)).first;
    }
    it->second->reset();
    return StatementLease(it->second.get());
}

Result<std::int64_t> Database::query_int64(std::string_view sql) {
    EARSHOT_ASSIGN_OR_RETURN(auto stmt, prepare(sql));
    EARSHOT_ASSIGN_OR_RETURN(bool row, stmt->step());
    if (!row)
        return make_error(ErrorCode::kInternal, "query returned no row: " + std::string(sql));
    return stmt->column_int64(0);
}

std::int64_t Database::changes() const {
    return sqlite3_changes64(db_.get());
}

// ---- Transaction --------------------------------------------------------------------------

Status Transaction::begin() {
    EARSHOT_RETURN_IF_ERROR(db_.exec("BEGIN IMMEDIATE"));
    active_ = true;
    return ok_status();
}

Status Transaction::begin_read() {
    EARSHOT_RETURN_IF_ERROR(db_.exec("BEGIN DEFERRED"));
    active_ = true;
    return ok_status();
}

Status Transaction::commit() {
    EARSHOT_RETURN_IF_ERROR(db_.exec("COMMIT"));
    active_ = false;
    return ok_status();
}

Transaction::~Transaction() {
    if (active_) {
        // Errors cannot be reported from a destructor; a failed ROLLBACK means SQLite already
        // rolled the transaction back (e.g. after SQLITE_FULL).
        sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

}  // namespace earshot::detail
