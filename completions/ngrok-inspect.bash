_ngrok_inspect_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _NGROK_INSPECT_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _ngrok_inspect_completion ngrok-inspect
