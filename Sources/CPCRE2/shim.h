// SPDX-License-Identifier: Apache-2.0
#ifndef CPCRE2_SHIM_H
#define CPCRE2_SHIM_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stddef.h>

// PCRE2 names its functions and types through token-pasting macros (pcre2_compile ->
// pcre2_compile_8), which Swift cannot import. These thin wrappers give Swift stable names for the
// 8-bit library; they add no logic of their own.

/// `PCRE2_UNSET` is a cast expression, which Swift does not import as a constant.
static inline size_t cpcre2_unset(void) { return PCRE2_UNSET; }

static inline pcre2_compile_context *cpcre2_compile_context_create(void) {
    return pcre2_compile_context_create(NULL);
}

static inline void cpcre2_compile_context_free(pcre2_compile_context *context) {
    pcre2_compile_context_free(context);
}

static inline int cpcre2_set_newline(pcre2_compile_context *context, uint32_t newline) {
    return pcre2_set_newline(context, newline);
}

static inline pcre2_code *cpcre2_compile(
    const uint8_t *pattern, size_t length, uint32_t options, int *errorcode, size_t *erroroffset,
    pcre2_compile_context *context
) {
    return pcre2_compile(pattern, length, options, errorcode, erroroffset, context);
}

static inline void cpcre2_code_free(pcre2_code *code) { pcre2_code_free(code); }

static inline int cpcre2_jit_compile(pcre2_code *code, uint32_t options) {
    return pcre2_jit_compile(code, options);
}

static inline int cpcre2_pattern_info(const pcre2_code *code, uint32_t what, void *where) {
    return pcre2_pattern_info(code, what, where);
}

static inline int cpcre2_get_error_message(int errorcode, uint8_t *buffer, size_t length) {
    return pcre2_get_error_message(errorcode, buffer, length);
}

static inline pcre2_match_data *cpcre2_match_data_create_from_pattern(const pcre2_code *code) {
    return pcre2_match_data_create_from_pattern(code, NULL);
}

static inline void cpcre2_match_data_free(pcre2_match_data *data) { pcre2_match_data_free(data); }

static inline size_t *cpcre2_get_ovector_pointer(pcre2_match_data *data) {
    return pcre2_get_ovector_pointer(data);
}

static inline uint32_t cpcre2_get_ovector_count(pcre2_match_data *data) {
    return pcre2_get_ovector_count(data);
}

static inline int cpcre2_match(
    const pcre2_code *code, const uint8_t *subject, size_t length, size_t startoffset, uint32_t options,
    pcre2_match_data *data, pcre2_match_context *context
) {
    return pcre2_match(code, subject, length, startoffset, options, data, context);
}

static inline pcre2_match_context *cpcre2_match_context_create(void) {
    return pcre2_match_context_create(NULL);
}

static inline void cpcre2_match_context_free(pcre2_match_context *context) {
    pcre2_match_context_free(context);
}

static inline pcre2_jit_stack *cpcre2_jit_stack_create(size_t startsize, size_t maxsize) {
    return pcre2_jit_stack_create(startsize, maxsize, NULL);
}

static inline void cpcre2_jit_stack_free(pcre2_jit_stack *stack) { pcre2_jit_stack_free(stack); }

static inline void cpcre2_jit_stack_assign(pcre2_match_context *context, pcre2_jit_stack *stack) {
    pcre2_jit_stack_assign(context, NULL, stack);
}

#endif
