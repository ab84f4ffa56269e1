<?php
// PHP-FPM's hello world, the reference point for a FastCGI process manager.
header('Content-Type: text/plain');
echo "Hello, world!\n";
