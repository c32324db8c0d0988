/* upstream.c: the test suite's upstream, driven by path and query string; by default it echoes the request as JSON. */
#include <string.h>
#include <openssl/evp.h>
#include "../demo/demo_server.h"

#define BIG_CHUNK_SIZE 65536
#define MAX_ECHOED_BODY 65536

/* GET /big: streams remaining bytes from a shared pattern, one chunk per proceed(). */
struct big_body {
    h2o_generator_t super;
    size_t remaining;
};

static const char *upstream_name;
static char pattern[BIG_CHUNK_SIZE];

static int on_name_option(const char *arg)
{
    upstream_name = arg;
    return 0;
}

static void sha256_hex(const void *data, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;

    if (EVP_Digest(len != 0 ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1)
        md_len = 0;
    h2o_hex_encode(hex, md, md_len);
}

static json_t *echo_json(h2o_req_t *req)
{
    char sha[2 * EVP_MAX_MD_SIZE + 1];
    json_t *obj;

    sha256_hex(req->entity.base, req->entity.len, sha);
    obj = json_pack("{s:s%, s:s%, s:o}", "method", req->method.base, req->method.len, "path", req->input.path.base,
                    req->input.path.len, "headers", demo_headers_json(req));
    if (obj == NULL)
        return NULL;
    /* json_stringn is NULL for a body that is not UTF-8; the body is then left out like a large one */
    if (req->entity.len <= MAX_ECHOED_BODY)
        json_object_set_new(obj, "body", json_stringn(req->entity.len != 0 ? req->entity.base : "", req->entity.len));
    json_object_set_new(obj, "body_length", json_integer((json_int_t)req->entity.len));
    json_object_set_new(obj, "body_sha256", json_string(sha));
    json_object_set_new(obj, "conn", json_integer((json_int_t)req->conn->id));
    if (upstream_name != NULL)
        json_object_set_new(obj, "name", json_string(upstream_name));
    return obj;
}

static void send_echo(h2o_req_t *req, void *data)
{
    (void)data;
    demo_send_json(req, 200, echo_json(req));
}

static void on_big_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    struct big_body *self = (struct big_body *)generator;
    h2o_iovec_t buf = h2o_iovec_init(pattern, self->remaining < BIG_CHUNK_SIZE ? self->remaining : BIG_CHUNK_SIZE);

    self->remaining -= buf.len;
    h2o_send(req, &buf, 1, self->remaining == 0 ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void handle_big(h2o_req_t *req)
{
    struct big_body *self;
    h2o_iovec_t arg;
    size_t size;

    if (demo_query_param(req, "size", &arg) != 0 || (size = h2o_strtosize(arg.base, arg.len)) == SIZE_MAX) {
        demo_send_error(req, 400, "size must be a number of bytes");
        return;
    }
    self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    self->super = (h2o_generator_t){on_big_proceed, NULL};
    self->remaining = demo_method_is(req, "HEAD") ? 0 : size;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = size;
    demo_add_header(req, "Content-Type", h2o_iovec_init(H2O_STRLIT("application/octet-stream")));
    h2o_start_response(req, &self->super);
    if (self->remaining == 0)
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        on_big_proceed(&self->super, req);
}

static void handle_slow(h2o_req_t *req)
{
    h2o_iovec_t arg;
    unsigned ms;

    if (demo_query_param(req, "ms", &arg) != 0 || demo_parse_ms(arg.base, arg.len, &ms) != 0) {
        demo_send_error(req, 400, "ms must be a number of milliseconds");
        return;
    }
    demo_defer(req, ms, send_echo, NULL);
}

static void handle_redirect(h2o_req_t *req)
{
    h2o_iovec_t to, host = req->input.authority, location;
    ssize_t i;

    if (demo_query_param(req, "to", &to) != 0 || to.len == 0 || to.base[0] != '/') {
        demo_send_error(req, 400, "to must be a path");
        return;
    }
    if ((i = h2o_find_header(&req->headers, H2O_TOKEN_HOST, -1)) != -1)
        host = req->headers.entries[i].value;
    location = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("http://")), host, to);
    demo_add_header(req, "Location", location);
    demo_send_json(req, 302, json_pack("{s:s%}", "location", location.base, location.len));
}

static void handle_status(h2o_req_t *req)
{
    h2o_iovec_t arg;
    size_t code;

    if (demo_query_param(req, "code", &arg) != 0 || (code = h2o_strtosize(arg.base, arg.len)) < 200 || code > 599) {
        demo_send_error(req, 400, "code must be a status from 200 to 599");
        return;
    }
    demo_send_json(req, (int)code, json_pack("{s:i}", "status", (int)code));
}

static int on_request(h2o_req_t *req)
{
    if (demo_path_is(req, "/big"))
        handle_big(req);
    else if (demo_path_is(req, "/slow"))
        handle_slow(req);
    else if (demo_path_is(req, "/redirect"))
        handle_redirect(req);
    else if (demo_path_is(req, "/status"))
        handle_status(req);
    else
        send_echo(req, NULL);
    return 0;
}

static const demo_option_t options[] = {
    {"name", 0, "NAME", "add \"name\": NAME to every echo, to tell two upstreams apart", on_name_option},
    {NULL, 0, NULL, NULL, NULL},
};

static const demo_server_t upstream = {"upstream", NULL, options, on_request, NULL};

int main(int argc, char **argv)
{
    memset(pattern, 'x', sizeof(pattern));
    return demo_main(&upstream, argc, argv);
}
