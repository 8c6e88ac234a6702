// Error values used at every module boundary: Result<T> holds a value or an Error with a coarse
// code (callers branch on it) and a message (people read it). Library code never throws across a
// module header; adapters convert third-party exceptions into Error (see docs/architecture.md).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
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

// Result<T> is tl::expected<T, Error> marked [[nodiscard]]: a call whose Result is dropped does
// not compile (-Werror), so an error cannot be lost silently. Where ignoring one is right, write
// `(void)f();  // why`. It converts to and from tl::expected<T, Error>; and_then() and map() are
// redefined to return Result, and and_then() accepts a callable returning Result<U>
// (tl::expected's own requires exactly tl::expected). map_error() and or_else() are tl::expected's
// and return tl::expected<T, ...>. Checked by tests/core/result_nodiscard_probe.cpp.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
    using Base = tl::expected<T, Error>;

public:
    using Base::Base;
    Result() = default;
    Result(const Base& other) : Base(other) {}        // NOLINT(google-explicit-constructor)
    Result(Base&& other) : Base(std::move(other)) {}  // NOLINT(google-explicit-constructor)

    // f(value) (f() for Result<void>) returning Result<U> or tl::expected<U, Error>; an error is
    // passed on unchanged without calling f.
    template <class F>
    auto and_then(F&& f) & {
        return and_then_impl(*this, std::forward<F>(f));
    }
    template <class F>
    auto and_then(F&& f) const& {
        return and_then_impl(*this, std::forward<F>(f));
    }
    template <class F>
    auto and_then(F&& f) && {
        return and_then_impl(std::move(*this), std::forward<F>(f));
    }
    // Result<U> holding f(value) (f() for Result<void>; U may be void), or the error unchanged.
    template <class F>
    auto map(F&& f) & {
        return map_impl(*this, std::forward<F>(f));
    }
    template <class F>
    auto map(F&& f) const& {
        return map_impl(*this, std::forward<F>(f));
    }
    template <class F>
    auto map(F&& f) && {
        return map_impl(std::move(*this), std::forward<F>(f));
    }

private:
    template <class Self, class F>
    static auto invoke_on_value(Self&& self, F&& f) -> decltype(auto) {
        if constexpr (std::is_void_v<T>) {
            return std::invoke(std::forward<F>(f));
        } else {
            return std::invoke(std::forward<F>(f), *std::forward<Self>(self));
        }
    }
    template <class Self, class F>
    static auto and_then_impl(Self&& self, F&& f) {
        using R = std::remove_cvref_t<decltype(invoke_on_value(std::forward<Self>(self),
                                                               std::forward<F>(f)))>;
        static_assert(std::is_convertible_v<R, tl::expected<typename R::value_type, Error>>,
                      "and_then: f must return Result<U> or tl::expected<U, Error>");
        using Out = Result<typename R::value_type>;
        if (!self.has_value())
            return Out(tl::unexpected<Error>(std::forward<Self>(self).error()));
        return Out(invoke_on_value(std::forward<Self>(self), std::forward<F>(f)));
    }
    template <class Self, class F>
    static auto map_impl(Self&& self, F&& f) {
        using U = std::remove_cvref_t<decltype(invoke_on_value(std::forward<Self>(self),
                                                               std::forward<F>(f)))>;
        using Out = Result<U>;
        if (!self.has_value())
            return Out(tl::unexpected<Error>(std::forward<Self>(self).error()));
        if constexpr (std::is_void_v<U>) {
            invoke_on_value(std::forward<Self>(self), std::forward<F>(f));
            return Out();
        } else {
            return Out(invoke_on_value(std::forward<Self>(self), std::forward<F>(f)));
        }
    }
};
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
