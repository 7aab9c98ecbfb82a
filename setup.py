"""The compiled UDP loop (petdns._fastloop) is optional: without a C compiler or Python.h the install
goes on without it and petdns answers from the pure-Python loop."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "petdns._fastloop",
            ["petdns/_fastloop.c"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
