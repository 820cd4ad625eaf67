/* What every group of asylo_bench shares (bench_common.h). */
#include "bench_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_selectors.h"

/* ---- configuration ---- */

bench_config cfg;

/* --only is a comma-separated list of group names; "growth" names every
 * "growth-..." group. */
bool group_enabled(const char *group) {
    if (cfg.only == NULL) {
        return true;
    }
    size_t group_length = strlen(group);
    for (const char *token = cfg.only; *token != '\0';) {
        size_t length = strcspn(token, ",");
        if ((length == group_length && strncmp(token, group, length) == 0) ||
            (length == 6 && strncmp(token, "growth", 6) == 0 &&
             strncmp(group, "growth-", 7) == 0)) {
            return true;
        }
        token += length;
        if (*token == ',') {
            token++;
        }
    }
    return false;
}

void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "asylo_bench: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    child_kill_all();
    bench_rmtree(cfg.tmp);
    exit(1);
}

/* ---- rows ---- */

#define MAX_ROWS 128
static row rows[MAX_ROWS];
static size_t row_count;
#define MAX_NOTES 16
static char notes[MAX_NOTES][640];
static size_t note_count;

void add_note(const char *format, ...) {
    if (note_count == MAX_NOTES) {
        return;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(notes[note_count++], sizeof notes[0], format, args);
    va_end(args);
}

static double row_ratio(const row *r) {
    return r->baseline_median > 0 ? r->subject_median / r->baseline_median : 0;
}

/* "1.23x", or "n/a" when the baseline is 0 (nothing to divide by). */
static const char *ratio_text(const row *r, char *text, size_t size) {
    if (r->baseline_median > 0) {
        snprintf(text, size, "%.2fx", row_ratio(r));
    } else {
        snprintf(text, size, "n/a");
    }
    return text;
}

static bool ratio_met(const row *r) {
    double ratio = row_ratio(r);
    return r->higher_is_better ? ratio >= r->target : ratio <= r->target;
}

const char *row_verdict(const row *r) {
    bool any = r->target > 0 || r->median_limit > 0 || r->tail_limit > 0;
    if (!any) {
        return "";
    }
    bool met = (r->target <= 0 || ratio_met(r)) &&
               (r->median_limit <= 0 || r->subject_median <= r->median_limit) &&
               (r->tail_limit <= 0 || r->subject_tail <= r->tail_limit);
    return met ? "met" : "MISSED";
}

/* The target column: "<=1.3x met", "<=1 ms median, <=2 ms p99 MISSED". */
static void target_text(const row *r, char *text, size_t size) {
    text[0] = '\0';
    size_t used = 0;
    if (r->target > 0) {
        used += (size_t)snprintf(text + used, size - used, "%s%.2gx",
                                 r->higher_is_better ? ">=" : "<=", r->target);
    }
    if (r->median_limit > 0 && used < size) {
        used += (size_t)snprintf(text + used, size - used, "%s<=%g %s median", used ? ", " : "",
                                 r->median_limit, r->unit);
    }
    if (r->tail_limit > 0 && used < size) {
        used += (size_t)snprintf(text + used, size - used, "%s<=%g %s p99", used ? ", " : "",
                                 r->tail_limit, r->unit);
    }
    if (used > 0 && used < size) {
        snprintf(text + used, size - used, " %s", row_verdict(r));
    }
}

static row *new_row(const char *group, const char *name, const char *unit, double scale,
                    const char *baseline, const samples *subject, const samples *base,
                    bool higher_is_better, double target) {
    if (row_count == MAX_ROWS) {
        fprintf(stderr, "asylo_bench: the table is full (%d rows): row '%s' left out\n", MAX_ROWS,
                name);
        return NULL;
    }
    row *r = &rows[row_count++];
    memset(r, 0, sizeof *r);
    snprintf(r->group, sizeof r->group, "%s", group);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    snprintf(r->baseline, sizeof r->baseline, "%s", baseline);
    double tail = higher_is_better ? 0.01 : 0.99;
    r->subject_median = samples_quantile(subject, 0.5) * scale;
    r->subject_tail = samples_quantile(subject, tail) * scale;
    r->baseline_median = samples_quantile(base, 0.5) * scale;
    r->baseline_tail = samples_quantile(base, tail) * scale;
    r->subject_count = subject->count;
    r->baseline_count = base->count;
    r->higher_is_better = higher_is_better;
    r->target = target;
    return r;
}

static void print_row(const row *r) {
    char target[96];
    target_text(r, target, sizeof target);
    const char *tail = r->higher_is_better ? "1" : "99";
    char ratio[32];
    printf("  %-40s %10.3f %s (p%s %.3f)  vs  %10.3f (p%s %.3f)  = %s %s\n", r->name,
           r->subject_median, r->unit, tail, r->subject_tail, r->baseline_median, tail,
           r->baseline_tail, ratio_text(r, ratio, sizeof ratio), target);
    fflush(stdout);
}

row *add_row(const char *group, const char *name, const char *unit, double scale,
             const char *baseline, const samples *subject, const samples *base,
             bool higher_is_better, double target) {
    row *r = new_row(group, name, unit, scale, baseline, subject, base, higher_is_better, target);
    if (r != NULL) {
        print_row(r);
    }
    return r;
}

row *add_row_absolute(const char *group, const char *name, const char *unit, double scale,
                      const char *baseline, const samples *subject, const samples *base,
                      double target, double median_limit, double tail_limit) {
    row *r = new_row(group, name, unit, scale, baseline, subject, base, false, target);
    if (r != NULL) {
        r->median_limit = median_limit;
        r->tail_limit = tail_limit;
        print_row(r);
    }
    return r;
}

const char *size_label(size_t size, char *text, size_t text_size) {
    if (size >= MIB) {
        snprintf(text, text_size, "%.1f MiB", (double)size / (double)MIB);
    } else if (size >= 1024) {
        snprintf(text, text_size, "%zu KiB", size / 1024);
    } else {
        snprintf(text, text_size, "%zu B", size);
    }
    return text;
}
/* ---- shared pieces ---- */

static asylo_code echo_exit(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector;
    return asylo_output_write(output, input, input_size, status);
}

const asylo_exit_handler echo_handler = {BENCH_EXIT_ECHO, echo_exit, NULL};

void check(asylo_code code, const asylo_status *status, const char *what) {
    if (code != ASYLO_OK) {
        char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
        die("%s: %s", what, asylo_status_format(status, text, sizeof text));
    }
}

void load_config_for(asylo_load_config *config, const char *name, const char *backend,
                     const char *image, const void *backend_config) {
    asylo_load_config_init(config);
    config->name = name;
    config->backend = backend;
    config->enclave_path = image;
    config->exit_handlers = &echo_handler;
    config->exit_handler_count = 1;
    config->backend_config = backend_config;
}

void put_u32(uint8_t *bytes, uint32_t value) {
    bytes[0] = (uint8_t)value;
    bytes[1] = (uint8_t)(value >> 8);
    bytes[2] = (uint8_t)(value >> 16);
    bytes[3] = (uint8_t)(value >> 24);
}

/* ---- output ---- */

static void machine_info(char *cpu, size_t cpu_size, char *kernel, size_t kernel_size) {
    snprintf(cpu, cpu_size, "unknown");
    FILE *file = fopen("/proc/cpuinfo", "r");
    if (file != NULL) {
        char line[512];
        while (fgets(line, sizeof line, file) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *value = strchr(line, ':');
                if (value != NULL) {
                    value += 2;
                    value[strcspn(value, "\n")] = '\0';
                    snprintf(cpu, cpu_size, "%s", value);
                }
                break;
            }
        }
        fclose(file);
    }
    struct utsname name;
    if (uname(&name) == 0) {
        snprintf(kernel, kernel_size, "%s %s", name.sysname, name.release);
    } else {
        snprintf(kernel, kernel_size, "unknown");
    }
}

static void format_value(double value, char *text, size_t size) {
    if (value >= 100000) {
        snprintf(text, size, "%.0f", value);
    } else if (value >= 100) {
        snprintf(text, size, "%.1f", value);
    } else {
        snprintf(text, size, "%.3g", value);
    }
}

static void json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            fputc('\\', out);
        }
        if ((unsigned char)*c >= 0x20) {
            fputc(*c, out);
        }
    }
    fputc('"', out);
}

void write_outputs(double seconds) {
    char cpu[256], kernel[256];
    machine_info(cpu, sizeof cpu, kernel, sizeof kernel);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));

    mkdir(cfg.out_dir, 0755);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/results.csv", cfg.out_dir);
    FILE *csv = fopen(path, "w");
    snprintf(path, sizeof path, "%s/results.json", cfg.out_dir);
    FILE *json = fopen(path, "w");
    snprintf(path, sizeof path, "%s/RESULTS.md", cfg.out_dir);
    FILE *md = fopen(path, "w");
    if (csv == NULL || json == NULL || md == NULL) {
        die("cannot write results into %s", cfg.out_dir);
    }
    fprintf(csv, "group,row,unit,subject_median,subject_tail,baseline_median,baseline_tail,"
                 "ratio,target,verdict,subject_samples,baseline_samples,bytes,baseline\n");
    fprintf(json, "{\n  \"machine\": {\"nproc\": %ld, \"cpu\": ", cpus);
    json_string(json, cpu);
    fprintf(json, ", \"kernel\": ");
    json_string(json, kernel);
    fprintf(json, "},\n  \"command\": ");
    json_string(json, cfg.command);
    fprintf(json, ",\n  \"date\": \"%s\",\n  \"quick\": %s,\n  \"seconds\": %.1f,\n  \"rows\": [\n",
            date, cfg.quick ? "true" : "false", seconds);

    fprintf(md, "# asylo-c benchmarks\n\n");
    fprintf(md, "Every boundary crossing against its physical limit, measured in one run; each "
                "baseline ran in the same process tree, interleaved with its subject (ABAB).\n\n");
    fprintf(md,
            "- machine: %ld vCPUs, %s, %s (shared and noisy: compare ratios, not absolute "
            "numbers)\n",
            cpus, cpu, kernel);
    fprintf(md, "- command: `%s`%s\n- date: %s, whole run %.0f s\n\n", cfg.command,
            cfg.quick ? " (quick: tiny counts, numbers meaningless)" : "", date, seconds);
    fprintf(md, "| row | unit | asylo-c median | p99 | baseline median | p99 | ratio | target |\n");
    fprintf(md, "|---|---|---:|---:|---:|---:|---:|---|\n");

    printf("\n%-48s %-8s %12s %12s %12s %12s %7s %s\n", "row", "unit", "median", "p99",
           "base median", "base p99", "ratio", "target");
    for (size_t i = 0; i < row_count; i++) {
        const row *r = &rows[i];
        char sm[32], st[32], bm[32], bt[32], target[96], ratio[32];
        format_value(r->subject_median, sm, sizeof sm);
        format_value(r->subject_tail, st, sizeof st);
        format_value(r->baseline_median, bm, sizeof bm);
        format_value(r->baseline_tail, bt, sizeof bt);
        target_text(r, target, sizeof target);
        ratio_text(r, ratio, sizeof ratio);
        printf("%-48s %-8s %12s %12s %12s %12s %7s %s\n", r->name, r->unit, sm, st, bm, bt, ratio,
               target);
        fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r->name, r->unit, sm, st, bm, bt,
                ratio, target);
        fprintf(csv, "%s,%s,%s,%.6g,%.6g,%.6g,%.6g,%.4f,%.2f,%s,%zu,%zu,%zu,\"%s\"\n", r->group,
                r->name, r->unit, r->subject_median, r->subject_tail, r->baseline_median,
                r->baseline_tail, row_ratio(r), r->target, row_verdict(r), r->subject_count,
                r->baseline_count, r->bytes, r->baseline);
        fprintf(json, "    {\"group\": ");
        json_string(json, r->group);
        fprintf(json, ", \"row\": ");
        json_string(json, r->name);
        fprintf(json, ", \"unit\": ");
        json_string(json, r->unit);
        fprintf(json,
                ", \"subject_median\": %.6g, \"subject_tail\": %.6g, \"baseline_median\": %.6g, "
                "\"baseline_tail\": %.6g, \"ratio\": %.4f, \"target\": %.2f, "
                "\"higher_is_better\": %s, \"verdict\": \"%s\", \"subject_samples\": %zu, "
                "\"baseline_samples\": %zu, \"median_limit\": %g, \"tail_limit\": %g, "
                "\"bytes\": %zu, \"baseline\": ",
                r->subject_median, r->subject_tail, r->baseline_median, r->baseline_tail,
                row_ratio(r), r->target, r->higher_is_better ? "true" : "false", row_verdict(r),
                r->subject_count, r->baseline_count, r->median_limit, r->tail_limit, r->bytes);
        json_string(json, r->baseline);
        fprintf(json, "}%s\n", i + 1 < row_count ? "," : "");
    }
    fprintf(json, "  ],\n  \"notes\": [");
    fprintf(md, "\n");
    printf("\n");
    for (size_t i = 0; i < note_count; i++) {
        json_string(json, notes[i]);
        fprintf(json, "%s", i + 1 < note_count ? ", " : "");
        fprintf(md, "- %s\n", notes[i]);
        printf("note: %s\n", notes[i]);
    }
    fprintf(json, "]\n}\n");
    fprintf(md, "\nBaselines (what each ratio divides by):\n\n");
    for (size_t i = 0; i < row_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = strcmp(rows[j].baseline, rows[i].baseline) == 0;
        }
        if (!seen) {
            const char *name = rows[i].name;
            while (*name == ' ') {
                name++;
            }
            fprintf(md, "- %s (and the rows like it): %s\n", name, rows[i].baseline);
        }
    }
    fprintf(md,
            "\nMedians and p99 are over repeated samples: a sample is the mean of a batch of "
            "calls for sim rows and the process exit call (batches of 10), one call for remote, "
            "process and kvm round trips, the difference of a paired enter with one crossing "
            "more and one without for the kvm exit call, forwarded write and raw baselines, "
            "one window for throughput (0.25 s remote, 0.2 s process; there the tail column is "
            "p1, the worst window), one load, create or provision otherwise. Growth rows divide "
            "by the same run's one-unit figure (one thread, one enclave) or, for payload rows "
            "(time per byte), by the backend's baseline at the same size. Ratio = asylo-c "
            "median / baseline median (n/a, 0 in the CSV and JSON, where the baseline is 0); a "
            "target is met when the ratio (and any absolute goal on "
            "the median or p99) is within it.\n\n"
            "![Round trip by payload size for each backend against its baseline](payload.svg)\n");
    fclose(csv);
    fclose(json);
    fclose(md);
    printf("results: %s/results.csv, results.json, RESULTS.md\n", cfg.out_dir);
}
