# Varnish as a reverse proxy for the probe (matrix/run.py fills in ORIGIN; the read
# timeouts are first_byte_timeout and between_bytes_timeout, given on varnishd's command
# line). Everything is passed, nothing cached: the probe is about what goes through.
vcl 4.1;
backend default {
  .host = "127.0.0.1";
  .port = "{origin}";
}
sub vcl_recv {
  if (req.http.upgrade ~ "(?i)websocket") {
    return (pipe);
  }
  return (pass);
}
sub vcl_pipe {
  if (req.http.upgrade) {
    set bereq.http.upgrade = req.http.upgrade;
    set bereq.http.connection = req.http.connection;
  }
}
