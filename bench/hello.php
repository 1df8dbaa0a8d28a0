<?php
// Scenario C of `bench/bench.py load`: the PHP-FPM hello, same bytes as the other scenarios.
header('Content-Type: text/plain; charset=utf-8');
header('Content-Length: 6');
echo "hello\n";
