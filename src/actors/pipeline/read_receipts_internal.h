/* Internal to the read-receipt pipeline (read_receipts*.c): the pipeline object and its
 * step for the partition pipeline shell (the same shape as persist_internal.h). */
#ifndef CN_ACTORS_PIPELINE_READ_RECEIPTS_INTERNAL_H
#define CN_ACTORS_PIPELINE_READ_RECEIPTS_INTERNAL_H

#include <stdatomic.h>

#include "actors/pipeline/partition_pipeline.h"
#include "actors/pipeline/read_receipts.h"

struct cn_read_receipts {
    struct cn_read_receipts_opts o; /* brokers below is an owned copy */
    char *brokers;
    /* The shell's group: it owns this object (freed with the group's last reference,
     * which actors hold until their last turn). */
    struct cn_pp_group *group;
    /* Relaxed counters: monotonic totals, nothing is published through them. */
    atomic_uint_fast64_t batches, events, moved, bad, retries, invalidations, published,
        dlt_records, dlt_failures;
};

/* The step of the read-receipt pipeline (read_receipts_step.c): decode (undecodable
 * records to the DLT), apply, tell the rooms. Owner: the struct cn_read_receipts. */
extern const struct cn_pp_step cn__rr_step;

#endif
