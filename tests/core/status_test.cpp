#include "core/status.h"

#include <gtest/gtest.h>

namespace earshot {
namespace {

Result<int> parse_positive(int v) {
    if (v <= 0)
        return make_error(ErrorCode::kInvalidArgument, "not positive");
    return v;
}

Result<int> doubled(int v) {
    EARSHOT_ASSIGN_OR_RETURN(int x, parse_positive(v));
    return 2 * x;
}

Status check_it(int v) {
    EARSHOT_RETURN_IF_ERROR(parse_positive(v));
    return ok_status();
}

TEST(StatusTest, AssignOrReturnPropagatesValueAndError) {
    EXPECT_EQ(*doubled(4), 8);
    auto bad = doubled(-1);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(check_it(3));
    EXPECT_FALSE(check_it(0));
}

TEST(StatusTest, WithContextPrefixesMessage) {
    Error e(ErrorCode::kNotFound, "no such file");
    auto c = e.with_context("ingest 'a.mp3'");
    EXPECT_EQ(c.message(), "ingest 'a.mp3': no such file");
    EXPECT_EQ(c.code(), ErrorCode::kNotFound);
    EXPECT_EQ(c.to_string(), "NotFound: ingest 'a.mp3': no such file");
}

}  // namespace
}  // namespace earshot
