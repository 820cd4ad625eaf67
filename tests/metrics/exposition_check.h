/* Checks promtool does not make on a text exposition: duplicate samples, and
 * histograms whose buckets are not cumulative, lack le="+Inf", or whose
 * +Inf bucket differs from _count. */
#ifndef ASYLO_TESTS_METRICS_EXPOSITION_CHECK_H
#define ASYLO_TESTS_METRICS_EXPOSITION_CHECK_H

#include <stddef.h>

/* Returns 0 when text passes; otherwise writes the first problem to error. */
int exposition_check(const char *text, char *error, size_t error_size);

#endif
