#include "core/status.h"

#include <type_traits>

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

TEST(StatusTest, AndThenAndMapReturnResultAndPassErrorsOn) {
    int calls = 0;
    auto chained = parse_positive(3).and_then([&](int x) {
        ++calls;
        return doubled(x);
    });
    static_assert(std::is_same_v<decltype(chained), Result<int>>);
    EXPECT_EQ(*chained, 6);
    auto failed = parse_positive(-3).and_then([&](int x) {
        ++calls;
        return doubled(x);
    });
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(calls, 1) << "and_then must not call f on an error";

    auto half = parse_positive(3).map([](int x) { return x / 2.0; });
    static_assert(std::is_same_v<decltype(half), Result<double>>);
    EXPECT_DOUBLE_EQ(*half, 1.5);
    auto as_status = parse_positive(3).map([](int) {});
    static_assert(std::is_same_v<decltype(as_status), Status>);
    EXPECT_TRUE(as_status);
    EXPECT_FALSE(parse_positive(0).map([](int) {}));

    // Status chains into a value; a tl::expected-returning f is accepted and wrapped.
    auto from_status = check_it(2).and_then([] { return tl::expected<int, Error>(7); });
    static_assert(std::is_same_v<decltype(from_status), Result<int>>);
    EXPECT_EQ(*from_status, 7);
    EXPECT_EQ(check_it(0).and_then([] { return parse_positive(1); }).error().code(),
              ErrorCode::kInvalidArgument);
}

TEST(StatusTest, ConvertsToAndFromTlExpected) {
    tl::expected<int, Error> raw = parse_positive(5);
    EXPECT_EQ(*raw, 5);
    Result<int> back = raw;
    EXPECT_EQ(*back, 5);
    Result<long> widened = parse_positive(5);
    EXPECT_EQ(*widened, 5L);
    Status err = make_error(ErrorCode::kNotFound, "gone");
    EXPECT_EQ(err.error().message(), "gone");
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
