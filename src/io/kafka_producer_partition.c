/* Room -> partition: Kafka's default partitioner, as the Java client computes it
 * (org.apache.kafka.common.utils.Utils.murmur2 and toPositive), so that the mapping is
 * a fixed function of the key bytes and the partition count on every node and in every
 * client. librdkafka's `murmur2` / `murmur2_random` partitioners compute the same
 * value; see kafka_producer.h. */
#include "io/kafka_producer.h"

uint32_t cn_kafka_murmur2(const void *key, size_t len)
{
    const uint32_t seed = 0x9747b28cu, m = 0x5bd1e995u;
    const int r = 24;
    const unsigned char *d = key;
    /* Java hashes an int length: keys longer than 2 GiB do not exist in Kafka. */
    uint32_t h = seed ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        /* Little-endian words, whatever the host order, as Java reads them. */
        uint32_t k = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 |
                     (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const unsigned char *tail = d + 4 * n4;
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t cn_kafka_partition_for_key(const void *key, size_t len, int32_t partitions)
{
    if (partitions < 1)
        return -1;
    return (int32_t)((cn_kafka_murmur2(key, len) & 0x7fffffffu) % (uint32_t)partitions);
}
