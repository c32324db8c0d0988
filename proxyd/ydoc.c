/* ydoc.c: loads one YAML document with libyaml; errors carry file:line:column. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "proxyd.h"

static int parser_error(const char *file, yaml_parser_t *parser, char *err, size_t errlen)
{
    const yaml_mark_t *mark = parser->problem != NULL ? &parser->problem_mark : &parser->context_mark;

    snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", file, mark->line + 1, mark->column + 1,
             parser->problem != NULL ? parser->problem : "invalid YAML", parser->context != NULL ? " " : "",
             parser->context != NULL ? parser->context : "");
    return -1;
}

/* Loads the first document of `file`; a second document is an error, an empty file is an empty document. */
int ydoc_load(pd_ydoc_t *yd, const char *file, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    FILE *fp;
    int ret = -1;

    memset(yd, 0, sizeof(*yd));
    yd->file = file;
    if ((fp = fopen(file, "r")) == NULL) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &yd->doc)) {
        parser_error(file, &parser, err, errlen);
        goto out;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        parser_error(file, &parser, err, errlen);
        yaml_document_delete(&yd->doc);
        goto out;
    }
    if (yaml_document_get_root_node(&extra) != NULL) {
        snprintf(err, errlen, "%s:%zu:%zu: only one YAML document is allowed", file, extra.start_mark.line + 1,
                 extra.start_mark.column + 1);
        yaml_document_delete(&extra);
        yaml_document_delete(&yd->doc);
        goto out;
    }
    yaml_document_delete(&extra);
    ret = 0;
out:
    yaml_parser_delete(&parser);
    fclose(fp);
    return ret;
}

void ydoc_free(pd_ydoc_t *yd)
{
    yaml_document_delete(&yd->doc);
}

/* NULL for an empty document. */
yaml_node_t *ydoc_root(pd_ydoc_t *yd)
{
    return yaml_document_get_root_node(&yd->doc);
}

yaml_node_t *ydoc_node(pd_ydoc_t *yd, int index)
{
    return yaml_document_get_node(&yd->doc, index);
}

/* The scalar's text, or NULL when the node is not a scalar. */
const char *ydoc_scalar(yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

/* Formats "file:line:column: message" for `node`; always returns -1. */
int ydoc_error(pd_ydoc_t *yd, yaml_node_t *node, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%zu:%zu: %s", yd->file, node->start_mark.line + 1, node->start_mark.column + 1, msg);
    return -1;
}
