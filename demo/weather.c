/* weather.c: demo weather service (GET /today, GET /tomorrow), optionally slow to show concurrency. */
#include <string.h>
#include "demo_server.h"

struct forecast {
    const char *day;
    int temperature_c;
    const char *conditions;
};

static const struct forecast today = {"today", 21, "sunny"};
static const struct forecast tomorrow = {"tomorrow", 17, "light rain"};
static unsigned default_delay_ms;

static int on_delay_option(const char *arg)
{
    return demo_parse_ms(arg, strlen(arg), &default_delay_ms);
}

static void on_delay_over(h2o_req_t *req, void *data)
{
    const struct forecast *f = data;

    demo_send_json(req, 200,
                   json_pack("{s:s, s:s, s:s, s:i, s:s}", "service", "weather", "day", f->day, "city", "Workshop", "temperature_c",
                             f->temperature_c, "conditions", f->conditions));
}

static int on_request(h2o_req_t *req)
{
    const struct forecast *f = demo_path_is(req, "/today") ? &today : demo_path_is(req, "/tomorrow") ? &tomorrow : NULL;
    unsigned delay_ms = default_delay_ms;
    h2o_iovec_t arg;

    if (f == NULL) {
        demo_send_error(req, 404, "not found");
        return 0;
    }
    if (!demo_method_is(req, "GET") && !demo_method_is(req, "HEAD")) {
        demo_add_header(req, "Allow", h2o_iovec_init(H2O_STRLIT("GET, HEAD")));
        demo_send_error(req, 405, "method not allowed");
        return 0;
    }
    if (demo_query_param(req, "delay", &arg) == 0 && demo_parse_ms(arg.base, arg.len, &delay_ms) != 0) {
        demo_send_error(req, 400, "delay must be a number of milliseconds");
        return 0;
    }
    /* the forecasts are static, so they outlive the request as demo_defer requires */
    demo_defer(req, delay_ms, on_delay_over, (void *)f);
    return 0;
}

static const demo_option_t options[] = {
    {"delay", 'd', "MS", "delay every answer by MS milliseconds (a delay=MS query parameter overrides it)", on_delay_option},
    {NULL, 0, NULL, NULL, NULL},
};

static const demo_server_t weather = {"weather", "127.0.0.1:9001", options, on_request, NULL};

int main(int argc, char **argv)
{
    return demo_main(&weather, argc, argv);
}
