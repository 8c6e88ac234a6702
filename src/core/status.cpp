#include "core/status.h"

namespace earshot {

std::string_view error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return "InvalidArgument";
        case ErrorCode::kNotFound:
            return "NotFound";
        case ErrorCode::kAlreadyExists:
            return "AlreadyExists";
        case ErrorCode::kCorruption:
            return "Corruption";
        case ErrorCode::kNotSupported:
            return "NotSupported";
        case ErrorCode::kIoError:
            return "IoError";
        case ErrorCode::kUnavailable:
            return "Unavailable";
        case ErrorCode::kInternal:
            return "Internal";
    }
    return "Internal";
}

Error Error::with_context(std::string_view context) const {
    std::string m(context);
    m += ": ";
    m += message_;
    return Error(code_, std::move(m));
}

std::string Error::to_string() const {
    std::string s(error_code_name(code_));
    s += ": ";
    s += message_;
    return s;
}

}  // namespace earshot
