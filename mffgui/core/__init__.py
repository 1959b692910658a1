"""Pure numpy/OpenCV core: no Qt, torch only where a tensor op is the natural tool."""
