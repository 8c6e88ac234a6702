#include "cli/exit_codes.h"

#include <cstdio>
#include <string>

#include "engine/engine.h"

namespace earshot::cli {

int exit_code_for(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return static_cast<int>(ExitCode::kInvalidArgument);
        case ErrorCode::kNotFound:
            return static_cast<int>(ExitCode::kNotFound);
        case ErrorCode::kAlreadyExists:
            return static_cast<int>(ExitCode::kInvalidArgument);
        case ErrorCode::kCorruption:
            return static_cast<int>(ExitCode::kCorruption);
        case ErrorCode::kIoError:
            return static_cast<int>(ExitCode::kIoError);
        case ErrorCode::kNotSupported:
            return static_cast<int>(ExitCode::kNotSupported);
        case ErrorCode::kUnavailable:
            return static_cast<int>(ExitCode::kUnavailable);
        case ErrorCode::kInternal:
            return static_cast<int>(ExitCode::kInternal);
    }
    return static_cast<int>(ExitCode::kInternal);
}

int report_error(std::string_view command, const Error& error) {
    std::string msg = error.message();
    std::fprintf(stderr, "earshot %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 msg.c_str());
    if (is_silent_query(error))
        return static_cast<int>(ExitCode::kSilentQuery);
    return exit_code_for(error.code());
}

}  // namespace earshot::cli
