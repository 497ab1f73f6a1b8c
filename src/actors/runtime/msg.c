/* Freeing messages through their own hook; see msg.h. */
#include "actors/runtime/msg.h"

#include <stdlib.h>

void cn_msg_free(cn_msg *m)
{
    if (!m)
        return;
    if (m->free_fn)
        m->free_fn(m);
    else
        free(m);
}
