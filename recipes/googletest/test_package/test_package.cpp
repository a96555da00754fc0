// A passing test and a mock: proves gtest_main, assertions and gmock link and run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

struct Clock {
    virtual ~Clock() = default;
    virtual long now() const = 0;
};

struct MockClock : Clock {
    MOCK_METHOD(long, now, (), (const, override));
};

TEST(Framework, ArithmeticAndExceptions) {
    EXPECT_EQ(6 * 7, 42);
    EXPECT_THROW(throw std::runtime_error("x"), std::runtime_error);
}

TEST(Framework, Mock) {
    MockClock clock;
    EXPECT_CALL(clock, now()).WillOnce(testing::Return(123));
    EXPECT_EQ(clock.now(), 123);
}
