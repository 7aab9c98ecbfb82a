"""petdns.settings: the zone settings values, the `--config` file and the options built from both.

`values` imports nothing of petdns; `options` imports petdns.forward, serve.listen and kubeapi.auth."""
