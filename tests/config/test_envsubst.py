from crowdwatch.config.envsubst import expand_env


def test_defined_variables_are_replaced_undefined_kept() -> None:
    env = {"HOME": "/home/u", "LEVEL": "debug"}
    text = "a: ${HOME}/x\nb: $LEVEL\nc: ${NOPE} $NOPE $$ ${ bad }"
    assert expand_env(text, env) == "a: /home/u/x\nb: debug\nc: ${NOPE} $NOPE $$ ${ bad }"


def test_longest_name_is_used() -> None:
    assert expand_env("$AB-$A", {"A": "1", "AB": "2"}) == "2-1"
