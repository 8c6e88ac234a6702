// Process exit codes of the earshot CLI (docs/cli.md). The single place where an Error becomes
// an exit code and a one-line message on stderr.
#pragma once

#include <string_view>

#include "core/status.h"

namespace earshot::cli {

enum class ExitCode : int {
    kOk = 0,
    kInternal = 1,
    kInvalidArgument = 2,
    kNotFound = 3,
    kCorruption = 4,
    kIoError = 5,
    kNotSupported = 6,
    kUnavailable = 7,
    kSilentQuery = 8,  // search: the query audio is silent (--allow-silent searches anyway)
};

int exit_code_for(ErrorCode code);
// Prints "earshot <command>: <message>" to stderr and returns the exit code for the error.
int report_error(std::string_view command, const Error& error);

}  // namespace earshot::cli
