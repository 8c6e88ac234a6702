// Error values used at every module boundary: Result<T> holds a value or an Error with a coarse
// code (callers branch on it) and a message (people read it). Library code never throws across a
// module header; adapters convert third-party exceptions into Error (see docs/architecture.md).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace earshot {

enum class ErrorCode {
    kInvalidArgument,
    kNotFound,
    kAlreadyExists,
    kCorruption,
    kNotSupported,
    kIoError,
    kUnavailable,
    kInternal,
};

// Name of a code as used in JSON errors, e.g. "NotFound".
std::string_view error_code_name(ErrorCode code);

class Error {
public:
    Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

    ErrorCode code() const { return code_; }
    const std::string& message() const { return message_; }
    // Returns a copy whose message is "<context>: <message>".
    Error with_context(std::string_view context) const;
    // "NotFound: <message>"
    std::string to_string() const;

private:
    ErrorCode code_;
    std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
    return tl::unexpected<Error>(Error(code, std::move(message)));
}
inline Status ok_status() {
    return {};
}

}  // namespace earshot

// Returns early from the enclosing function (which must return Result<...>) when expr failed.
#define EARSHOT_RETURN_IF_ERROR(expr)                       \
    do {                                                    \
        auto earshot_status_ = (expr);                      \
        if (!earshot_status_)                               \
            return tl::unexpected(earshot_status_.error()); \
    } while (0)

#define EARSHOT_CONCAT_INNER_(a, b) a##b
#define EARSHOT_CONCAT_(a, b) EARSHOT_CONCAT_INNER_(a, b)
// EARSHOT_ASSIGN_OR_RETURN(auto x, make_thing()); declares x from the value or returns the error.
#define EARSHOT_ASSIGN_OR_RETURN(decl, expr) \
    EARSHOT_ASSIGN_OR_RETURN_IMPL_(EARSHOT_CONCAT_(earshot_result_, __LINE__), decl, expr)
#define EARSHOT_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
    auto tmp = (expr);                                  \
    if (!tmp)                                           \
        return tl::unexpected(std::move(tmp).error());  \
    decl = std::move(*tmp)
