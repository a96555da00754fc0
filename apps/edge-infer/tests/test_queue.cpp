#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "edge_infer/bounded_queue.hpp"

using namespace edge_infer;

TEST(BoundedQueue, FifoAcrossThreadsAndNeverAboveCapacity) {
    BoundedQueue<int> q(3);
    std::thread producer([&] {
        for (int i = 0; i < 1000; ++i) ASSERT_TRUE(q.push(i));
        q.close();
    });
    int expected = 0;
    while (auto v = q.pop()) {
        EXPECT_EQ(*v, expected++);
        if (expected % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    producer.join();
    EXPECT_EQ(expected, 1000);
    EXPECT_LE(q.high_water(), 3u);
    EXPECT_GE(q.high_water(), 1u);
}

TEST(BoundedQueue, PushBlocksWhenFullUntilPopped) {
    BoundedQueue<int> q(1);
    ASSERT_TRUE(q.push(1));
    std::atomic<bool> pushed{false};
    std::thread t([&] {
        q.push(2);
        pushed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(pushed.load());
    EXPECT_EQ(*q.pop(), 1);
    t.join();
    EXPECT_TRUE(pushed.load());
}

TEST(BoundedQueue, CloseWakesABlockedProducerAndDrains) {
    BoundedQueue<int> q(1);
    q.push(1);
    bool result = true;
    std::thread t([&] { result = q.push(2); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.close();
    t.join();
    EXPECT_FALSE(result);
    EXPECT_EQ(*q.pop(), 1);     // items queued before close are still delivered
    EXPECT_FALSE(q.pop().has_value());
}

TEST(BoundedQueue, ZeroCapacityIsRejected) {
    EXPECT_THROW(BoundedQueue<int>(0), std::invalid_argument);
}

TEST(BoundedQueue, PushLatestNeverBlocksAndDropsTheOldest) {
    BoundedQueue<int> q(3);
    long long dropped = 0;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.push_latest(i, dropped));  // would block at 3
    EXPECT_EQ(dropped, 7);
    EXPECT_EQ(q.high_water(), 3u);
    q.close();
    EXPECT_EQ(*q.pop(), 7);  // the newest three, in order
    EXPECT_EQ(*q.pop(), 8);
    EXPECT_EQ(*q.pop(), 9);
    EXPECT_FALSE(q.pop().has_value());
    EXPECT_FALSE(q.push_latest(10, dropped));
    EXPECT_EQ(dropped, 7);
}
