#include "server/json_codec.h"

#include "core/utf8.h"

namespace earshot::server {

int http_status_for(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return 400;
        case ErrorCode::kNotFound:
            return 404;
        case ErrorCode::kAlreadyExists:
            return 409;
        case ErrorCode::kNotSupported:
            return 415;
        case ErrorCode::kUnavailable:
            return 503;
        case ErrorCode::kCorruption:
        case ErrorCode::kIoError:
        case ErrorCode::kInternal:
            break;
    }
    return 500;
}

nlohmann::json error_json(std::string_view code_name, std::string_view message) {
    return {{"error", {{"code", std::string(code_name)}, {"message", utf8_lossy(message)}}}};
}

nlohmann::json error_json(const Error& error) {
    return error_json(error_code_name(error.code()), error.message());
}

std::string_view code_name_for_status(int status) {
    switch (status) {
        case 400:
            return "InvalidArgument";
        case 404:
            return "NotFound";
        case 405:
            return "MethodNotAllowed";
        case 408:
            return "RequestTimeout";
        case 409:
            return "Conflict";
        case 413:
            return "PayloadTooLarge";
        case 414:
            return "UriTooLong";
        case 415:
            return "NotSupported";
        case 416:
            return "RangeNotSatisfiable";
        case 503:
            return "Unavailable";
        default:
            return status >= 500 ? "Internal" : "InvalidArgument";
    }
}

}  // namespace earshot::server
